/* Shared helpers of the C programs run under libtensortier_preload.so.
   Include it first (it defines _GNU_SOURCE). */
#ifndef TT_PRELOAD_TEST_UTIL_H
#define TT_PRELOAD_TEST_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tt_failures __attribute__((unused)) = 0;

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++tt_failures;                                                       \
    }                                                                      \
  } while (0)

/* Fails unless malloc resolves to the preload library (a test that runs
   against glibc alone proves nothing). */
static inline void require_preload(void) {
  Dl_info info;
  void* sym = dlsym(RTLD_DEFAULT, "malloc");
  if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL ||
      strstr(info.dli_fname, "tensortier_preload") == NULL) {
    fprintf(stderr, "not running under libtensortier_preload.so (malloc from %s)\n",
            sym != NULL && dladdr(sym, &info) && info.dli_fname ? info.dli_fname : "?");
    exit(2);
  }
}

/* Deterministic contents: byte i of a buffer with `seed` is byte i % 8 of
   word i / 8, a hash of (seed, i / 8). Generated and checked a word at a time. */
static inline uint64_t pattern_word(uint64_t seed, size_t word) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + word * 0xBF58476D1CE4E5B9ull;
  x ^= x >> 31;
  return x;
}

static inline unsigned char pattern_byte(uint64_t seed, size_t i) {
  return (unsigned char)(pattern_word(seed, i >> 3) >> (8 * (i & 7)));
}

static inline void fill_pattern(unsigned char* p, size_t bytes, uint64_t seed) {
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    const uint64_t w = pattern_word(seed, i >> 3);
    memcpy(p + i, &w, 8);
  }
  for (; i < bytes; ++i) p[i] = pattern_byte(seed, i);
}

/* Number of bytes that differ from the pattern. */
static inline size_t count_mismatches(const unsigned char* p, size_t bytes, uint64_t seed) {
  size_t bad = 0, i = 0;
  for (; i + 8 <= bytes; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    const uint64_t diff = w ^ pattern_word(seed, i >> 3);
    if (diff != 0)
      for (int b = 0; b < 8; ++b) bad += ((diff >> (8 * b)) & 0xff) != 0;
  }
  for (; i < bytes; ++i) bad += p[i] != pattern_byte(seed, i);
  return bad;
}

static inline size_t count_nonzero(const unsigned char* p, size_t bytes) {
  size_t bad = 0;
  for (size_t i = 0; i < bytes; ++i) bad += p[i] != 0;
  return bad;
}

#endif
