// The bench's native baselines, as a Node-API addon loaded into the bench's own process: it copies
// inside the fabric's shared WebAssembly.Memory (a Uint8Array over its SharedArrayBuffer), at the
// offsets the wasm case uses, so both sides of a ratio move the same bytes between the same slots
// in the same rounds. Built at bench time by bench/native/addon.ts (cc -O2 -shared); never needed
// to install or test the package.
//
//   copySg(bytes, table, count, way)   table: Uint32Array of (dst, src, length) triples, fabric
//                                      offsets; way: 0 glibc memcpy, 1 the 16-byte loop, 2 relaxed 8 B,
//                                      3 straight-line 16-byte moves up to 256 B
//   copyParallel(bytes, dst, src, length, threads, way)
//                                      one copy cut into `threads` 64-byte-aligned parts, the
//                                      calling thread copying the first and a new thread each other
//
// Every range is checked against the memory before it is copied (a RangeError stops the call
// there). Both calls return undefined.
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>

#include "copy-loops.h"

#define MAX_THREADS 16

static copy_fn *const WAYS[] = { copy_memcpy, copy_sse16, copy_relaxed8, copy_sse16_straight };
#define NWAYS (sizeof WAYS / sizeof WAYS[0])

// One loop per way, each with its copy inlined (a call through a pointer per segment would cost
// native code what the wasm kernel does not pay).
static inline __attribute__((always_inline)) int sg_loop(char *bytes, size_t size, const uint32_t *table, size_t count, copy_fn *fn) {
  for (size_t i = 0; i < count; i++) {
    size_t dst = table[3 * i], src = table[3 * i + 1], len = table[3 * i + 2];
    if (dst > size || len > size - dst || src > size || len > size - src) return 0;
    fn(bytes + dst, bytes + src, len);
  }
  return 1;
}

static napi_value fail(napi_env env, const char *message) {
  napi_throw_range_error(env, "ERR_NATIVE_ARGUMENT", message);
  return NULL;
}

static int get_bytes(napi_env env, napi_value value, napi_typedarray_type want, void **data, size_t *length) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, value, &type, length, data, &buffer, &offset) != napi_ok || type != want) return 0;
  return 1;
}

static int get_index(napi_env env, napi_value value, double limit, size_t *out) {
  double d;
  if (napi_get_value_double(env, value, &d) != napi_ok || !(d >= 0) || d > limit || d != (double)(size_t)d) return 0;
  *out = (size_t)d;
  return 1;
}

static napi_value copy_sg(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char *bytes;
  uint32_t *table;
  size_t size, entries, count, way;
  if (argc < 4 || !get_bytes(env, argv[0], napi_uint8_array, (void **)&bytes, &size)) return fail(env, "copySg: bytes must be a Uint8Array");
  if (!get_bytes(env, argv[1], napi_uint32_array, (void **)&table, &entries)) return fail(env, "copySg: table must be a Uint32Array");
  if (!get_index(env, argv[2], (double)(entries / 3), &count)) return fail(env, "copySg: count must be an integer within the table");
  if (!get_index(env, argv[3], NWAYS - 1, &way)) return fail(env, "copySg: way must be 0, 1, 2 or 3");
  int ok = way == 0 ? sg_loop(bytes, size, table, count, copy_memcpy)
         : way == 1 ? sg_loop(bytes, size, table, count, copy_sse16)
         : way == 2 ? sg_loop(bytes, size, table, count, copy_relaxed8)
                    : sg_loop(bytes, size, table, count, copy_sse16_straight);
  return ok ? NULL : fail(env, "copySg: a segment lies outside the memory");
}

struct part {
  copy_fn *fn;
  char *dst;
  const char *src;
  size_t len;
};

static void *copy_part(void *arg) {
  struct part *p = arg;
  p->fn(p->dst, p->src, p->len);
  return NULL;
}

static napi_value copy_parallel(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char *bytes;
  size_t size, dst, src, len, threads, way;
  if (argc < 6 || !get_bytes(env, argv[0], napi_uint8_array, (void **)&bytes, &size)) return fail(env, "copyParallel: bytes must be a Uint8Array");
  if (!get_index(env, argv[1], (double)size, &dst) || !get_index(env, argv[2], (double)size, &src) || !get_index(env, argv[3], (double)size, &len)) {
    return fail(env, "copyParallel: dst, src and length must be integers within the memory");
  }
  if (len > size - dst || len > size - src) return fail(env, "copyParallel: the copy lies outside the memory");
  if (!get_index(env, argv[4], MAX_THREADS, &threads) || threads == 0) return fail(env, "copyParallel: threads must be 1..16");
  if (!get_index(env, argv[5], NWAYS - 1, &way)) return fail(env, "copyParallel: way must be 0, 1, 2 or 3");
  struct part parts[MAX_THREADS];
  pthread_t ids[MAX_THREADS];
  size_t share = (len / threads + 63) & ~(size_t)63, at = 0;
  for (size_t t = 0; t < threads; t++) {
    size_t n = at >= len ? 0 : len - at < share || t == threads - 1 ? len - at : share;
    parts[t] = (struct part){ WAYS[way], bytes + dst + at, bytes + src + at, n };
    at += n;
  }
  size_t started = 1;
  for (; started < threads; started++) {
    if (pthread_create(&ids[started], NULL, copy_part, &parts[started]) != 0) break;
  }
  copy_part(&parts[0]);
  // A thread that could not start: its part is copied here, so the copy is whole either way.
  for (size_t t = started; t < threads; t++) copy_part(&parts[t]);
  for (size_t t = 1; t < started; t++) pthread_join(ids[t], NULL);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "copySg", NAPI_AUTO_LENGTH, copy_sg, NULL, &fn);
  napi_set_named_property(env, exports, "copySg", fn);
  napi_create_function(env, "copyParallel", NAPI_AUTO_LENGTH, copy_parallel, NULL, &fn);
  napi_set_named_property(env, exports, "copyParallel", fn);
  return exports;
}
