#!/bin/sh
# make-certs.sh DIR ADDRESS DAYS: a CA of the broker's own and a certificate for ADDRESS, and
# broker.pem (unencrypted PKCS#8 key, then the chain) that Kafka reads as a PEM keystore.
set -eu
dir=$1 address=$2 days=$3
cd "$dir"
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
  -keyout ca-key.pem -out ca.pem -subj "/CN=cdclab Kafka CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -sha256 -keyout broker-key.pem -out broker.csr \
  -subj "/CN=cdclab-kafka" 2>/dev/null
printf 'subjectAltName=IP:%s,DNS:cdclab-kafka\nextendedKeyUsage=serverAuth\n' "$address" > broker.ext
openssl x509 -req -sha256 -days "$days" -in broker.csr -CA ca.pem -CAkey ca-key.pem \
  -CAcreateserial -extfile broker.ext -out broker-cert.pem 2>/dev/null
cat broker-key.pem broker-cert.pem ca.pem > broker.pem
rm -f broker.csr broker.ext broker-key.pem
chmod 0644 ca.pem broker-cert.pem
