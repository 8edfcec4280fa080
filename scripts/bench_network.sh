#!/usr/bin/env bash
# DICOM networking benchmark against a real PACS (Orthanc on loopback, started here with a fresh database):
#   scripts/bench_network.sh BUILD_DIR
# Study1 of ../shared/data/hippocampus (5 MR series, 120 objects, 44 MiB) is stored in Orthanc with
# storescu, then: medpipe fetch by C-GET and by C-MOVE, run --send of the SEG and SR, and storescu into
# medpipe listen until the study is filed. Prints seconds and MiB/s per step; TCP_NODELAY=0 shows the
# peers with Nagle's algorithm on.
set -euo pipefail
# medpipe disables Nagle's algorithm itself; storescu and Orthanc (DCMTK too) only with this set.
export TCP_NODELAY=${TCP_NODELAY:-1}
build=$(realpath "$1")
cd "$(dirname "$0")/.."
study=../shared/data/hippocampus/data/TestVolumes/Study1
[ -d "$study" ] || { echo "$study is absent (see ../shared/data/README.md)"; exit 1; }
work=$(mktemp -d)
free_port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
dicom=$(free_port); http=$(free_port); move=$(free_port); listen=$(free_port)
cat > "$work/orthanc.json" <<JSON
{"Name": "bench", "StorageDirectory": "$work/db", "IndexDirectory": "$work/db", "HttpPort": $http, "DicomPort": $dicom,
 "DicomAet": "ORTHANC", "RemoteAccessAllowed": false, "AuthenticationEnabled": false,
 "DicomModalities": {"medpipe": ["MEDPIPE", "127.0.0.1", $move]}, "Plugins": []}
JSON
/usr/sbin/Orthanc "$work/orthanc.json" > "$work/orthanc.log" 2>&1 &
orthanc=$!
trap 'kill $orthanc ${listener:-} 2> /dev/null; wait 2> /dev/null; rm -rf "$work"' EXIT
until curl -sf "http://127.0.0.1:$http/system" > /dev/null; do sleep 0.2; done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); Orthanc $(dpkg-query -W -f='${Version}' orthanc)"
mib=$(du -sm --apparent-size "$study" | cut -f1)
timed() {  # NAME COMMAND...: runs it, prints seconds and MiB/s over the study's size
  local name=$1; shift
  local start end
  start=$(date +%s.%N)
  "$@" > "$work/$name.log" 2>&1 || { tail -5 "$work/$name.log"; exit 1; }
  end=$(date +%s.%N)
  echo "$name: $(echo "$end - $start" | bc | xargs printf '%.2f') s, $(echo "$mib / ($end - $start)" | bc -l | xargs printf '%.1f') MiB/s ($mib MiB, 120 objects)"
}
timed "storescu to Orthanc (reference)" storescu -aet MODALITY -aec ORTHANC +sd +r 127.0.0.1 "$dicom" "$study"
timed "medpipe fetch, C-GET" "$build/pipeline/medpipe" fetch --pacs "127.0.0.1:$dicom" --aec ORTHANC --date 20200119 --out "$work/get"
timed "medpipe fetch, C-MOVE" "$build/pipeline/medpipe" fetch --pacs "127.0.0.1:$dicom" --aec ORTHANC --date 20200119 --out "$work/move" --port "$move"
timed "medpipe run --send (hippocampus, CPU; SEG + SR sent)" "$build/pipeline/medpipe" run "$work/get" "$work/out" \
  --model models/hippocampus --device cpu --send "127.0.0.1:$dicom:ORTHANC"
"$build/pipeline/medpipe" listen --out "$work/listen" --port "$listen" --quiet-seconds 3600 > "$work/listen.log" 2>&1 &
listener=$!
until echoscu -aec MEDPIPE 127.0.0.1 "$listen" 2> /dev/null; do sleep 0.2; done
timed "storescu to medpipe listen" storescu -aet MODALITY -aec MEDPIPE +sd +r 127.0.0.1 "$listen" "$study"
echo "filed by listen: $(find "$work/listen/incoming" -name '*.dcm' -not -path '*/.partial/*' | wc -l) objects"
