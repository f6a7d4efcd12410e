// The native ways of moving bytes that the WebAssembly kernels are measured against: glibc's
// memcpy, the 16-byte vector loop WebAssembly SIMD can express (the kernel's copyLoop: 64 bytes
// per iteration, four v128 loads then four stores), and the loop V8 runs for copyWithin, set and
// Buffer.copy on a SharedArrayBuffer (relaxed 8-byte atomics). Shared by sg-ceiling.c (a
// standalone program) and native-addon.c (the bench's in-process baselines).
#ifndef DMA_BOUNCE_COPY_LOOPS_H
#define DMA_BOUNCE_COPY_LOOPS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

typedef void copy_fn(char *dst, const char *src, size_t len);

// V8's base::Relaxed_Memcpy for aligned ranges: word-sized relaxed atomics.
static inline void copy_relaxed8(char *dst, const char *src, size_t len) {
  size_t i = 0;
  for (; i + 8 <= len; i += 8)
    __atomic_store_n((uint64_t *)(dst + i), __atomic_load_n((const uint64_t *)(src + i), __ATOMIC_RELAXED), __ATOMIC_RELAXED);
  for (; i < len; i++) dst[i] = src[i];
}

// The kernel's copyLoop: 64 bytes per iteration in 16-byte moves, four loads then four stores;
// the tail in 16-byte moves, then bytes. Off x86 the same shape in GCC's generic vectors.
#if defined(__SSE2__)
static inline void copy_sse16(char *dst, const char *src, size_t len) {
  size_t i = 0;
  for (; i + 64 <= len; i += 64) {
    __m128i a = _mm_loadu_si128((const void *)(src + i)), b = _mm_loadu_si128((const void *)(src + i + 16));
    __m128i c = _mm_loadu_si128((const void *)(src + i + 32)), d = _mm_loadu_si128((const void *)(src + i + 48));
    _mm_storeu_si128((void *)(dst + i), a); _mm_storeu_si128((void *)(dst + i + 16), b);
    _mm_storeu_si128((void *)(dst + i + 32), c); _mm_storeu_si128((void *)(dst + i + 48), d);
  }
  for (; i + 16 <= len; i += 16) _mm_storeu_si128((void *)(dst + i), _mm_loadu_si128((const void *)(src + i)));
  for (; i < len; i++) dst[i] = src[i];
}
#else
typedef char v16 __attribute__((vector_size(16), aligned(1)));
static inline void copy_sse16(char *dst, const char *src, size_t len) {
  size_t i = 0;
  for (; i + 64 <= len; i += 64) {
    v16 a = *(const v16 *)(src + i), b = *(const v16 *)(src + i + 16), c = *(const v16 *)(src + i + 32), d = *(const v16 *)(src + i + 48);
    *(v16 *)(dst + i) = a; *(v16 *)(dst + i + 16) = b; *(v16 *)(dst + i + 32) = c; *(v16 *)(dst + i + 48) = d;
  }
  for (; i + 16 <= len; i += 16) *(v16 *)(dst + i) = *(const v16 *)(src + i);
  for (; i < len; i++) dst[i] = src[i];
}
#endif

static inline void copy_memcpy(char *dst, const char *src, size_t len) { memcpy(dst, src, len); }

#endif
