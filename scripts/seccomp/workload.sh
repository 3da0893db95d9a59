#!/usr/bin/env bash
# The workload of scripts/measure-seccomp.sh: every kind of call the vCPU threads serve.
# Drives a flint server at $URL with every kind of call the vCPU threads serve.
set -u
T=secret-token
put() { curl -s -o /dev/null -w "%{http_code} " -X PUT -H "Authorization: Bearer $T" -F "module=@$2" -F "config=$3" $URL/functions/$1; }
inv() { curl -s -o /dev/null -w "%{http_code} " -X POST -H "Authorization: Bearer $T" --data-binary "$2" $URL/functions/$1/invoke; }
M=${MODULES:-/tmp/flint-test-modules}
put hello $M/hello-*.wasm '{"env":{"NAME":"m"}}'
put kv $M/kv-*.wasm '{}'
put trap $M/trap-*.wasm '{}'
put loop $M/loop-*.wasm '{"timeout_ms":200}'
put bomb $(ls $M/bomb-*.wasm | head -1) '{"memory_limit_mb":16}'
put grow $M/grow-*.wasm '{}'
put random $M/random-*.wasm '{}'
put clock $M/clock-*.wasm '{}'
put sleep $M/sleep-*.wasm '{}'
put bigout $M/bigout-*.wasm '{}'
put divzero $M/divzero-*.wasm '{}'
put cgi $M/cgi-*.wasm '{"routes":["/cgi"],"public":true}'
put echo $M/echo-*.wasm '{"max_concurrency":4}'
echo
for i in $(seq 1 30); do
  for f in hello kv trap random clock divzero grow bigout echo; do inv $f "body $i"; done
done
for i in 1 2 3; do inv loop x; inv bomb x; inv sleep 50; done
for i in $(seq 1 20); do curl -s -o /dev/null "$URL/cgi/a?b=$i"; done
# concurrency: 16 parallel echo calls
for i in $(seq 1 16); do inv echo "p$i" & done; wait
# a redeploy and a rollback, and a delete
put hello $M/echo-*.wasm '{}'
curl -s -o /dev/null -X POST -H "Authorization: Bearer $T" -d '{"version":1}' $URL/functions/hello/rollback
inv hello again
curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $T" $URL/functions/grow
echo done
