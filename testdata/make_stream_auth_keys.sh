#!/bin/sh
# Remakes testdata/stream_auth/: two throwaway RSA-2048 key pairs (PKCS#8 PEM) for the
# stream-authentication tests, key A's public key, and the JWKS document of key A
# (kid "test-key-a").
# TEST-ONLY KEYS: they are public; never use them for anything else.
# Needs openssl and python3.
set -eu
cd "$(dirname "$0")/stream_auth"
for k in a b; do
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "key_$k.pem" 2>/dev/null
done
openssl pkey -in key_a.pem -pubout -out public_a.pem
openssl rsa -in key_a.pem -noout -modulus | python3 -c '
import base64, json, sys
n = bytes.fromhex(sys.stdin.read().strip().split("=", 1)[1])
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
jwk = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "test-key-a",
       "n": b64(n), "e": b64((65537).to_bytes(3, "big"))}
json.dump({"keys": [jwk]}, sys.stdout, indent=2)
print()
' > jwks.json
