// A Flint function in AssemblyScript: greets the request body, with a greeting from the
// function's config (env GREETING), and counts its calls in the key-value store.
// Build: npm ci && npm run build (WASI through @assemblyscript/wasi-shim).

@external("flint", "kv_get")
declare function kv_get(key: usize, keyLen: i32, buf: usize, cap: i32): i32;
@external("flint", "kv_set")
declare function kv_set(key: usize, keyLen: i32, value: usize, len: i32): i32;

function readStdin(): string {
  const chunk = new ArrayBuffer(65536);
  let body = "";
  let n = process.stdin.read(chunk);
  while (n > 0) {
    body += String.UTF8.decode(chunk.slice(0, n));
    n = process.stdin.read(chunk);
  }
  return body;
}

function countCall(): i32 {
  const key = String.UTF8.encode("calls");
  const buf = new ArrayBuffer(16);
  const len = kv_get(changetype<usize>(key), key.byteLength, changetype<usize>(buf), 16);
  const calls = (len > 0 ? I32.parseInt(String.UTF8.decode(buf.slice(0, len))) : 0) + 1;
  const value = String.UTF8.encode(calls.toString());
  kv_set(changetype<usize>(key), key.byteLength, changetype<usize>(value), value.byteLength);
  return calls;
}

const name = readStdin();
const greeting = process.env.has("GREETING") ? process.env.get("GREETING") : "Hello";
const calls = countCall();
process.stdout.write(greeting + ", " + name + "! (call " + calls.toString() + ")\n");
