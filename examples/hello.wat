;; A WASI command that answers "hello, <request body>!" (or "hello, world!" for an empty body).
;; examples/hello.wasm is this file compiled with `wat` (a test checks that they agree):
;;   cargo test -p flint-server --bin flint examples
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0..8: iovec, 8..12: nread/nwritten, 16..23: "hello, ", 32..: body, 4096..: "!\n", "world"
  (data (i32.const 16) "hello, ")
  (data (i32.const 4096) "!\n")
  (data (i32.const 4104) "world")
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (local $n i32)
    (i32.store (i32.const 0) (i32.const 32))
    (i32.store (i32.const 4) (i32.const 4000))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $n (i32.load (i32.const 8)))
    (call $write (i32.const 16) (i32.const 7))
    (if (i32.eqz (local.get $n))
      (then (call $write (i32.const 4104) (i32.const 5)))
      (else (call $write (i32.const 32) (local.get $n))))
    (call $write (i32.const 4096) (i32.const 2))))
