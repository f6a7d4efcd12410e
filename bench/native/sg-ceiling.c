// What native code can do with the kernel/sg/*/4KiB case: the same 1024 x 4 KiB segments at the
// same shuffled slots (the xorshift permutation of bench/suites/kernels.ts), copied by loops of
// each vector width and by glibc's memcpy, against the loop V8 runs for copyWithin, set and
// Buffer.copy on a SharedArrayBuffer (base::Relaxed_Memmove: one relaxed 8-byte load and store at
// a time). WebAssembly's v128 lowers to 16-byte SSE/AVX moves, so "sse" is the native bound for
// the kernel's loop. Rounds are interleaved; each figure is the median round (2 noisy vCPUs).
//
//   gcc -O2 -o /tmp/sg-ceiling bench/native/sg-ceiling.c && /tmp/sg-ceiling [segments] [size]
//
// (or npm run bench:native [-- segments size]). "1 67108864" measures one 64 MiB copy instead.
//
// x86-64 only; a way the CPU lacks (AVX2, AVX-512F) is skipped. Not part of npm test.
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// The relaxed 8-byte, 16-byte and memcpy ways are those of copy-loops.h, which the bench runs in
// process (dma-bounce bench --native); this program adds the wider loops.
#include "copy-loops.h"

#define AREA (64u << 20)
#define ROUNDS 41
#define REPS 10

__attribute__((target("avx2"))) static void avx2(char *dst, const char *src, size_t len) {
  for (size_t i = 0; i < len; i += 64) {
    __m256i a = _mm256_loadu_si256((const void *)(src + i)), b = _mm256_loadu_si256((const void *)(src + i + 32));
    _mm256_storeu_si256((void *)(dst + i), a); _mm256_storeu_si256((void *)(dst + i + 32), b);
  }
}

__attribute__((target("avx512f"))) static void avx512(char *dst, const char *src, size_t len) {
  for (size_t i = 0; i < len; i += 128) {
    __m512i a = _mm512_loadu_si512((const void *)(src + i)), b = _mm512_loadu_si512((const void *)(src + i + 64));
    _mm512_storeu_si512((void *)(dst + i), a); _mm512_storeu_si512((void *)(dst + i + 64), b);
  }
}

static const struct { const char *name; copy_fn *fn; const char *needs; } WAYS[] = {
  { "relaxed-8B (V8, shared)", copy_relaxed8, NULL }, { "sse-16B (wasm v128)", copy_sse16, NULL },
  { "avx2-32B", avx2, "avx2" }, { "avx512-64B", avx512, "avx512f" }, { "glibc memcpy", copy_memcpy, NULL },
};
#define NWAYS (sizeof WAYS / sizeof WAYS[0])

static int supported(size_t way) {
  const char *needs = way < NWAYS ? WAYS[way].needs : NULL;
  if (!needs) return 1;
  return strcmp(needs, "avx2") == 0 ? __builtin_cpu_supports("avx2") : __builtin_cpu_supports("avx512f");
}

// bench/suites/kernels.ts shuffled(): the same xorshift32 and the same swaps.
static void shuffled(uint32_t *slots, uint32_t n, uint32_t seed) {
  for (uint32_t i = 0; i < n; i++) slots[i] = i;
  uint32_t s = seed ? seed : 1;
  for (uint32_t i = n - 1; i > 0; i--) {
    s ^= s << 13; s ^= s >> 17; s ^= s << 5;
    uint32_t j = s % (i + 1), t = slots[i];
    slots[i] = slots[j]; slots[j] = t;
  }
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  uint32_t count = argc > 1 ? (uint32_t)atoi(argv[1]) : 1024, size = argc > 2 ? (uint32_t)atoi(argv[2]) : 4096;
  if (count < 1 || size < 128 || size % 128 || (uint64_t)count * size > AREA) {
    fprintf(stderr, "usage: sg-ceiling [segments] [size: a multiple of 128, segments x size <= 64 MiB]\n");
    return 2;
  }
  char *src = aligned_alloc(4096, AREA), *dst = aligned_alloc(4096, AREA);
  uint32_t *src_slots = malloc(count * sizeof *src_slots), *dst_slots = malloc(count * sizeof *dst_slots);
  if (!src || !dst || !src_slots || !dst_slots) return 1;
  uint32_t x = 0x9e3779b9;  // random source bytes, so that a way that copies wrong is caught below
  for (size_t i = 0; i < AREA; i += 4) { x ^= x << 13; x ^= x >> 17; x ^= x << 5; memcpy(src + i, &x, 4); }
  shuffled(src_slots, count, size);
  shuffled(dst_slots, count, size + 1);
  for (size_t w = 0; w < NWAYS; w++) {
    if (!supported(w)) continue;
    memset(dst, 0xa5, AREA);
    for (uint32_t i = 0; i < count; i++)
      WAYS[w].fn(dst + (size_t)dst_slots[i] * size, src + (size_t)src_slots[i] * size, size);
    for (uint32_t i = 0; i < count; i++)
      if (memcmp(dst + (size_t)dst_slots[i] * size, src + (size_t)src_slots[i] * size, size) != 0) {
        fprintf(stderr, "%s copied segment %u wrong\n", WAYS[w].name, i);
        return 1;
      }
  }

  // ns per segment: every way scattered, then sse and memcpy over one contiguous run of the same bytes.
  static double ns[NWAYS + 2][ROUNDS];
  for (int r = 0; r < ROUNDS; r++) {
    for (size_t w = 0; w < NWAYS + 2; w++) {
      if (!supported(w)) continue;
      double t0 = now_ns();
      for (int rep = 0; rep < REPS; rep++) {
        if (w == NWAYS) copy_sse16(dst, src, (size_t)count * size);
        else if (w == NWAYS + 1) memcpy(dst, src, (size_t)count * size);
        else for (uint32_t i = 0; i < count; i++)
          WAYS[w].fn(dst + (size_t)dst_slots[i] * size, src + (size_t)src_slots[i] * size, size);
      }
      ns[w][r] = (now_ns() - t0) / REPS / count;
    }
  }
  printf("%u segments of %u B at shuffled slots; median of %d interleaved rounds\n", count, size, ROUNDS);
  double base = 0;
  for (size_t w = 0; w < NWAYS + 2; w++) {
    if (!supported(w)) continue;
    qsort(ns[w], ROUNDS, sizeof(double), by_value);
    double med = ns[w][ROUNDS / 2];
    if (w == 0) base = med;
    const char *name = w < NWAYS ? WAYS[w].name : w == NWAYS ? "sse-16B, one contiguous run" : "glibc memcpy, one contiguous run";
    printf("  %-34s %7.1f ns/segment  %6.2f GB/s  %5.2fx relaxed-8B\n", name, med, size / med, base / med);
  }
  return 0;
}
