"""The listing floor for bench/compare.sh: every ListObjectsV2 page of a
bucket fetched with curl (its own SigV4 signing, --aws-sigv4), following
the continuation tokens, the bodies thrown away after the token is read.
No SDK, no decoding beyond one regular expression: what the server costs.

  python3 bench/rawlist.py ENDPOINT BUCKET   (keys from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)
"""
import os
import re
import subprocess
import sys
import urllib.parse

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
endpoint, bucket = sys.argv[1], sys.argv[2]
user = os.environ["AWS_ACCESS_KEY_ID"] + ":" + os.environ["AWS_SECRET_ACCESS_KEY"]
token, pages, keys = None, 0, 0
while True:
    # In sorted order: curl signs the query as written.
    query = "list-type=2"
    if token:
        query = "continuation-token=" + urllib.parse.quote(token, safe="") + "&" + query
    # S3 wants the payload's hash; curl signs the header it is given.
    body = subprocess.run(["curl", "-fsS", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user", user,
                           "-H", "x-amz-content-sha256: " + EMPTY_SHA256,
                           f"{endpoint}/{bucket}?{query}"], check=True, capture_output=True).stdout
    pages += 1
    keys += body.count(b"<Key>")
    m = re.search(rb"<NextContinuationToken>([^<]*)</NextContinuationToken>", body)
    if not m:
        break
    token = m.group(1).decode()
print(f"{pages} pages, {keys} keys", file=sys.stderr)
