// The YAML the flow editor reads and writes. The server's parser decides
// what a flow means (POST /api/validate) and edits files on their yaml.v3
// node tree (PATCH); the browser only needs to read a flow file into the
// form and to write the form back as text. parseYAML reads the part of
// YAML flow files are written in (block maps and lists, one-line flow
// maps and lists, quoted and plain scalars, | and > text, comments) and
// throws on anything else (anchors, tags, multi-line flow collections):
// the editor then offers the YAML tab alone rather than guessing.

export class YAMLError extends Error {}

const KEY = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"{[\]},&*!|>%@`-][^#]*?|-[^\s#][^#]*?)\s*:(?=\s|$)/;

export function parseYAML(src) {
  const lines = src.replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  const fail = (why) => { throw new YAMLError(`line ${i + 1}: ${why}`); };
  const indentOf = (l) => l.match(/^ */)[0].length;
  const blank = (l) => /^\s*(#.*)?$/.test(l);
  const skip = () => { while (i < lines.length && (blank(lines[i]) || /^(---|\.\.\.)\s*$/.test(lines[i]))) i++; };
  if (/^\s*%/m.test(src)) fail('directives are not read by the form');

  function node(min) {
    skip();
    if (i >= lines.length) return null;
    const ind = indentOf(lines[i]);
    if (ind < min) return null;
    const t = lines[i].slice(ind);
    if (t === '-' || t.startsWith('- ')) return seq(ind);
    if (KEY.test(t)) return map(ind);
    const v = inline(stripComment(t));
    i++;
    return v;
  }

  function seq(ind) {
    const out = [];
    for (;;) {
      skip();
      if (i >= lines.length) break;
      const l = lines[i];
      const li = indentOf(l);
      if (li < ind) break;
      if (li > ind) fail('unexpected indentation');
      const t = l.slice(ind);
      if (!(t === '-' || t.startsWith('- '))) break;
      const rest = t.slice(1);
      if (stripComment(rest).trim() === '') {
        i++;
        out.push(node(ind + 1));
        continue;
      }
      // "- key: value" starts a map whose keys line up after the dash.
      const pad = rest.match(/^ */)[0].length;
      lines[i] = ' '.repeat(ind + 1 + pad) + rest.slice(pad);
      out.push(node(ind + 1));
    }
    return out;
  }

  function map(ind) {
    const out = {};
    for (;;) {
      skip();
      if (i >= lines.length) break;
      const l = lines[i];
      const li = indentOf(l);
      if (li < ind) break;
      if (li > ind) fail('unexpected indentation');
      const t = l.slice(ind);
      const m = KEY.exec(t);
      if (!m) break;
      const key = String(scalar(m[1]));
      if (Object.prototype.hasOwnProperty.call(out, key)) fail(`key ${key} twice`);
      const rest = stripComment(t.slice(m[0].length)).trim();
      i++;
      if (rest === '') {
        skip();
        // A list may sit at the key's own indentation.
        if (i < lines.length && indentOf(lines[i]) === ind && /^- |^-$/.test(lines[i].slice(ind))) out[key] = seq(ind);
        else out[key] = node(ind + 1);
      } else if (/^[|>][-+]?$/.test(rest)) {
        out[key] = blockText(rest, ind);
      } else {
        out[key] = inline(rest);
      }
    }
    return out;
  }

  function blockText(head, ind) {
    const body = [];
    let bi = -1;
    while (i < lines.length) {
      const l = lines[i];
      if (l.trim() === '') { body.push(''); i++; continue; }
      const li = indentOf(l);
      if (li <= ind) break;
      if (bi < 0) bi = li;
      if (li < bi) break;
      body.push(l.slice(bi));
      i++;
    }
    while (body.length && body[body.length - 1] === '') body.pop();
    let text = head[0] === '|' ? body.join('\n') : body.join('\n').replace(/([^\n])\n(?=[^\n])/g, '$1 ');
    if (!head.endsWith('-')) text += '\n';
    return text;
  }

  function inline(text) {
    if (/^[&*!]/.test(text)) fail('anchors, aliases and tags are not read by the form');
    if (text[0] === '{' || text[0] === '[') {
      const p = { s: text, i: 0 };
      const v = flowValue(p);
      ws(p);
      if (p.i !== p.s.length) fail('unexpected text after a flow collection');
      return v;
    }
    return scalar(text);
  }

  function ws(p) { while (p.i < p.s.length && /\s/.test(p.s[p.i])) p.i++; }
  function flowValue(p, inMap) {
    ws(p);
    const c = p.s[p.i];
    if (c === '{') {
      p.i++;
      const out = {};
      for (;;) {
        ws(p);
        if (p.s[p.i] === '}') { p.i++; return out; }
        const k = flowScalar(p, true);
        ws(p);
        let v = null;
        if (p.s[p.i] === ':') { p.i++; v = flowValue(p, true); }
        out[String(k)] = v;
        ws(p);
        if (p.s[p.i] === ',') { p.i++; continue; }
        if (p.s[p.i] === '}') { p.i++; return out; }
        fail('a flow map must end with }');
      }
    }
    if (c === '[') {
      p.i++;
      const out = [];
      for (;;) {
        ws(p);
        if (p.s[p.i] === ']') { p.i++; return out; }
        out.push(flowValue(p, false));
        ws(p);
        if (p.s[p.i] === ',') { p.i++; continue; }
        if (p.s[p.i] === ']') { p.i++; return out; }
        fail('a flow list must end with ]');
      }
    }
    return flowScalar(p, false, inMap);
  }
  function flowScalar(p, isKey) {
    const c = p.s[p.i];
    if (c === '"' || c === "'") {
      const re = c === '"' ? /^"(?:[^"\\]|\\.)*"/ : /^'(?:[^']|'')*'/;
      const m = re.exec(p.s.slice(p.i));
      if (!m) fail('a quoted string does not end');
      p.i += m[0].length;
      return scalar(m[0]);
    }
    let j = p.i;
    while (j < p.s.length) {
      const ch = p.s[j];
      if (ch === ',' || ch === '}' || ch === ']') break;
      if (ch === ':' && (isKey || true) && /[\s,}\]]/.test(p.s[j + 1] || ' ')) break;
      j++;
    }
    const raw = p.s.slice(p.i, j).trim();
    p.i = j;
    return isKey ? raw : scalar(raw);
  }

  function scalar(raw) {
    if (raw === '' || raw === '~' || raw === 'null' || raw === 'Null' || raw === 'NULL') return null;
    if (raw[0] === '"') {
      if (!/^"(?:[^"\\]|\\.)*"$/.test(raw)) fail('a quoted string does not end on its line');
      try {
        return JSON.parse(raw.replace(/\\([0abtnvfre /N_LP])/g, (m, c) => ({ '0': '\\u0000', a: '\\u0007', v: '\\u000b', e: '\\u001b', ' ': ' ', '/': '/', N: '\\u0085', _: '\\u00a0', L: '\\u2028', P: '\\u2029' }[c] ?? m)).replace(/\t/g, '\\t'));
      } catch {
        fail('a quoted string the form cannot read');
      }
    }
    if (raw[0] === "'") {
      if (!/^'(?:[^']|'')*'$/.test(raw)) fail('a quoted string does not end on its line');
      return raw.slice(1, -1).replace(/''/g, "'");
    }
    if (/^(true|True|TRUE)$/.test(raw)) return true;
    if (/^(false|False|FALSE)$/.test(raw)) return false;
    if (/^[-+]?[0-9]+$/.test(raw)) return Number(raw);
    if (/^[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/.test(raw)) return Number(raw);
    return raw;
  }

  const v = node(0);
  skip();
  if (i < lines.length) fail('text the form cannot read');
  return v;
}

// stripComment cuts a # comment that is outside quotes.
function stripComment(t) {
  let q = '';
  for (let j = 0; j < t.length; j++) {
    const c = t[j];
    if (q) {
      if (c === '\\' && q === '"') j++;
      else if (c === q) q = '';
    } else if (c === '"' || c === "'") {
      if (j === 0 || /[\s{[,:]/.test(t[j - 1])) q = c;
    } else if (c === '#' && (j === 0 || /\s/.test(t[j - 1]))) {
      return t.slice(0, j).trimEnd();
    }
  }
  return t.trimEnd();
}

// toYAML writes a value as block YAML: maps and lists one entry a line,
// strings plain when YAML reads them back as the same string, else quoted.
export function toYAML(v) {
  return block(v, 0).join('\n') + '\n';
}

function block(v, ind) {
  const pad = ' '.repeat(ind);
  if (Array.isArray(v)) {
    if (!v.length) return [pad + '[]'];
    const out = [];
    for (const item of v) {
      if (isMap(item) && Object.keys(item).length) {
        const inner = block(item, ind + 2);
        out.push(pad + '- ' + inner[0].slice(ind + 2), ...inner.slice(1));
      } else if (Array.isArray(item) && item.length) {
        out.push(pad + '-', ...block(item, ind + 2));
      } else {
        out.push(pad + '- ' + inlineValue(item));
      }
    }
    return out;
  }
  if (isMap(v)) {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined);
    if (!keys.length) return [pad + '{}'];
    const out = [];
    for (const k of keys) {
      const x = v[k];
      if ((isMap(x) && Object.keys(x).length) || (Array.isArray(x) && x.length)) {
        out.push(pad + scalarText(k) + ':', ...block(x, ind + 2));
      } else {
        out.push(pad + scalarText(k) + ': ' + inlineValue(x));
      }
    }
    return out;
  }
  return [pad + inlineValue(v)];
}

const isMap = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);

function inlineValue(x) {
  if (Array.isArray(x)) return '[]';
  if (isMap(x)) return '{}';
  return scalarText(x);
}

function scalarText(x) {
  if (x === null || x === undefined) return 'null';
  if (typeof x === 'number' || typeof x === 'boolean') return String(x);
  const s = String(x);
  const plain = /^[A-Za-z0-9_./][A-Za-z0-9_./ @()-]*$/.test(s) && !/ $/.test(s) && !/ #|: /.test(s)
    && !/^(true|false|yes|no|on|off|null|~|y|n)$/i.test(s) && !/^[-+]?[0-9.]/.test(s);
  return plain ? s : JSON.stringify(s);
}
