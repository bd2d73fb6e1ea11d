#!/bin/sh
# import-ca-bundle.sh BUNDLE TRUSTSTORE PASSFILE: every certificate of a PEM bundle (RDS's
# global bundle holds one per region) into a new PKCS12 truststore; keytool reads only the
# first certificate of a file. Runs inside the Connect image, so the host needs no Java.
set -eu
bundle=$1 store=$2 passfile=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0 out=""
while IFS= read -r line || [ -n "$line" ]; do
  case $line in *"-----BEGIN CERTIFICATE-----"*) n=$((n + 1)); out="$work/ca-$n.pem" ;; esac
  if [ -n "$out" ]; then printf '%s\n' "$line" >> "$out"; fi
  case $line in *"-----END CERTIFICATE-----"*) out="" ;; esac
done < "$bundle"
if [ "$n" -eq 0 ]; then
  echo "import-ca-bundle.sh: no certificate in $bundle" >&2
  exit 2
fi
rm -f "$work/store.p12"
i=1
while [ "$i" -le "$n" ]; do
  keytool -importcert -noprompt -alias "ca-$i" -file "$work/ca-$i.pem" \
    -keystore "$work/store.p12" -storetype PKCS12 -storepass:file "$passfile" >/dev/null
  i=$((i + 1))
done
cp "$work/store.p12" "$store"
