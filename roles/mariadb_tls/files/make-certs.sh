#!/bin/sh
# make-certs.sh DIR ADDRESS OWNER DAYS: a lab CA and a server certificate for ADDRESS.
set -eu
dir=$1 address=$2 owner=$3 days=$4
cd "$dir"
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
  -keyout ca-key.pem -out ca.pem -subj "/CN=cdclab lab CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -sha256 -keyout server-key.pem -out server.csr \
  -subj "/CN=cdclab-db" 2>/dev/null
printf 'subjectAltName=IP:%s,DNS:cdclab-db\nextendedKeyUsage=serverAuth\n' "$address" > server.ext
openssl x509 -req -sha256 -days "$days" -in server.csr -CA ca.pem -CAkey ca-key.pem \
  -CAcreateserial -extfile server.ext -out server-cert.pem 2>/dev/null
rm -f server.csr server.ext
chmod 0644 ca.pem server-cert.pem
chown "$owner" server-key.pem
