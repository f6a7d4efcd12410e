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

// The kernel's copy of short segments (copySg's copyShorts): up to 256 bytes in straight-line
// 16-byte moves with no loop (16-64 bytes: moves from both ends; 65-128: the first and the last 64;
// 129-256: the first and the last 128), longer ones copy_sse16. The fastest 16-byte way for such
// segments, so its ratio to copy_memcpy (which moves 32 or 64 bytes at a time here) bounds what
// WebAssembly SIMD can reach.
#if defined(__SSE2__)
typedef __m128i v16x;
static inline v16x load16(const char *p) { return _mm_loadu_si128((const void *)p); }
static inline void store16(char *p, v16x v) { _mm_storeu_si128((void *)p, v); }
#else
typedef char v16x __attribute__((vector_size(16), aligned(1)));
static inline v16x load16(const char *p) { return *(const v16x *)p; }
static inline void store16(char *p, v16x v) { *(v16x *)p = v; }
#endif

// 64-128 bytes: the first 64 and the last 64, the eight loads before the stores.
static inline void move64to128(char *dst, const char *src, size_t len) {
  size_t t = len - 64;
  v16x a = load16(src), b = load16(src + 16), c = load16(src + 32), d = load16(src + 48);
  v16x w = load16(src + t), x = load16(src + t + 16), y = load16(src + t + 32), z = load16(src + t + 48);
  store16(dst, a); store16(dst + 16, b); store16(dst + 32, c); store16(dst + 48, d);
  store16(dst + t, w); store16(dst + t + 16, x); store16(dst + t + 32, y); store16(dst + t + 48, z);
}

static inline void copy_sse16_straight(char *dst, const char *src, size_t len) {
  if (len <= 64) {
    if (len > 32) {
      size_t t = len - 32;
      v16x a = load16(src), b = load16(src + 16), c = load16(src + t), d = load16(src + t + 16);
      store16(dst, a); store16(dst + 16, b); store16(dst + t, c); store16(dst + t + 16, d);
    } else if (len >= 16) {
      v16x a = load16(src), d = load16(src + len - 16);
      store16(dst, a); store16(dst + len - 16, d);
    } else {
      for (size_t i = 0; i < len; i++) dst[i] = src[i];
    }
  } else if (len <= 128) {
    move64to128(dst, src, len);
  } else if (len <= 256) {
    move64to128(dst, src, 128);
    move64to128(dst + len - 128, src + len - 128, 128);
  } else {
    copy_sse16(dst, src, len);
  }
}

static inline void copy_memcpy(char *dst, const char *src, size_t len) { memcpy(dst, src, len); }

#endif
