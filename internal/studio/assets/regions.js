// AWS regions for the Region dropdowns. S3-compatible stores often take any
// name (us-east-1 by convention); "Other" allows a name not listed here.
export const regions = [
  ['us-east-1', 'US East (N. Virginia)'], ['us-east-2', 'US East (Ohio)'],
  ['us-west-1', 'US West (N. California)'], ['us-west-2', 'US West (Oregon)'],
  ['af-south-1', 'Africa (Cape Town)'],
  ['ap-east-1', 'Asia Pacific (Hong Kong)'], ['ap-east-2', 'Asia Pacific (Taipei)'],
  ['ap-south-1', 'Asia Pacific (Mumbai)'], ['ap-south-2', 'Asia Pacific (Hyderabad)'],
  ['ap-southeast-1', 'Asia Pacific (Singapore)'], ['ap-southeast-2', 'Asia Pacific (Sydney)'],
  ['ap-southeast-3', 'Asia Pacific (Jakarta)'], ['ap-southeast-4', 'Asia Pacific (Melbourne)'],
  ['ap-southeast-5', 'Asia Pacific (Malaysia)'], ['ap-southeast-6', 'Asia Pacific (New Zealand)'],
  ['ap-southeast-7', 'Asia Pacific (Thailand)'],
  ['ap-northeast-1', 'Asia Pacific (Tokyo)'], ['ap-northeast-2', 'Asia Pacific (Seoul)'],
  ['ap-northeast-3', 'Asia Pacific (Osaka)'],
  ['ca-central-1', 'Canada (Central)'], ['ca-west-1', 'Canada West (Calgary)'],
  ['eu-central-1', 'Europe (Frankfurt)'], ['eu-central-2', 'Europe (Zurich)'],
  ['eu-west-1', 'Europe (Ireland)'], ['eu-west-2', 'Europe (London)'], ['eu-west-3', 'Europe (Paris)'],
  ['eu-south-1', 'Europe (Milan)'], ['eu-south-2', 'Europe (Spain)'], ['eu-north-1', 'Europe (Stockholm)'],
  ['il-central-1', 'Israel (Tel Aviv)'], ['me-south-1', 'Middle East (Bahrain)'], ['me-central-1', 'Middle East (UAE)'],
  ['mx-central-1', 'Mexico (Central)'], ['sa-east-1', 'South America (São Paulo)'],
  ['us-gov-east-1', 'AWS GovCloud (US-East)'], ['us-gov-west-1', 'AWS GovCloud (US-West)'],
  ['cn-north-1', 'China (Beijing)'], ['cn-northwest-1', 'China (Ningxia)'],
];

import { h } from './ui.js';

// regionSelect is a select of the regions; first is an optional leading
// option such as ['', 'The connection's region']. A value not in the list
// is added, so that nothing given is lost.
export function regionSelect({ id, name, value = '', first }) {
  const opts = [];
  if (first) opts.push(h('option', { value: first[0] }, first[1]));
  for (const [code, title] of regions) opts.push(h('option', { value: code }, `${code} — ${title}`));
  const sel = h('select', { id, name }, opts);
  if (value && !regions.some(([c]) => c === value) && value !== (first && first[0])) {
    sel.append(h('option', { value }, value));
  }
  sel.value = value;
  return sel;
}
