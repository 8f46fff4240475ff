/* Every malloc-semantics edge case under libtensortier_preload.so.
   Modes: "spill" (TENSORTIER_DRAM_LIMIT=16M, PMem behind it: blocks move),
   "enomem" (TENSORTIER_DRAM_LIMIT=8M, TENSORTIER_PMEM=none: tiers fill up).
   Exit 0 when every check passes. */
#include "preload_test_util.h"

#include <errno.h>
#include <malloc.h>
#include <unistd.h>

/* Failed reallocs leave their pointer valid: that is what is checked. */
#pragma GCC diagnostic ignored "-Wuse-after-free"
#pragma GCC diagnostic ignored "-Walloc-size-larger-than="

#define MiB ((size_t)1 << 20)

static int is_aligned(const void* p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

/* Managed blocks are whole pages; glibc's chunks have a 16-byte header. */
static int looks_managed(void* p) { return malloc_usable_size(p) % 4096 == 0; }

static void test_zero_and_null(void) {
  void* a = malloc(0);
  void* b = malloc(0);
  CHECK(a != NULL && b != NULL && a != b);
  free(a);
  free(b);
  free(NULL);
  CHECK(malloc_usable_size(NULL) == 0);
  void* c = realloc(NULL, 0);
  free(c);
  errno = 1234;
  void* big = malloc(3 * MiB);
  free(big);
  free(NULL);
  CHECK(errno == 1234); /* free keeps errno */
}

static void test_posix_memalign(void) {
  const size_t bad[] = {0, 1, 2, 3, 4, 12, 24, 48, 100, 4097, ((size_t)1 << 40) + 8};
  const size_t sizes[] = {16, 3 * MiB};
  for (size_t s = 0; s < 2; ++s)
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
      void* out = (void*)0x5a5a;
      CHECK(posix_memalign(&out, bad[i], sizes[s]) == EINVAL);
      CHECK(out == (void*)0x5a5a);
    }
  const size_t good[] = {8, 64, 4096, 65536, 2 * MiB, 4 * MiB, 16 * MiB};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; ++i) {
    void* out = NULL;
    CHECK(posix_memalign(&out, good[i], 3 * MiB + 123) == 0);
    CHECK(out != NULL && is_aligned(out, good[i]));
    if (out == NULL) continue;
    if (good[i] <= 2 * MiB) CHECK(looks_managed(out));
    memset(out, 0xab, 3 * MiB + 123);
    CHECK(malloc_usable_size(out) >= 3 * MiB + 123);
    free(out);
  }
}

static void test_aligned_family(void) {
  void* a = aligned_alloc(4096, 3 * MiB);
  CHECK(a != NULL && is_aligned(a, 4096) && looks_managed(a));
  void* m = memalign(2 * MiB, 5 * MiB);
  CHECK(m != NULL && is_aligned(m, 2 * MiB) && malloc_usable_size(m) >= 5 * MiB);
  void* v = valloc(2 * MiB + 1);
  CHECK(v != NULL && is_aligned(v, 4096) && malloc_usable_size(v) >= 2 * MiB + 1);
  void* pv = pvalloc(MiB + MiB / 2 + 1);
  CHECK(pv != NULL && is_aligned(pv, 4096) && malloc_usable_size(pv) >= MiB + MiB / 2 + 4096);
  void* small = pvalloc(0); /* one whole page (glibc 2.36's own gives 1 byte) */
  CHECK(small != NULL && is_aligned(small, 4096) && malloc_usable_size(small) >= 4096);
  void* big_align = memalign(8 * MiB, 3 * MiB);
  CHECK(big_align != NULL && is_aligned(big_align, 8 * MiB));
  void* odd = memalign(3000, 2 * MiB); /* glibc rounds the alignment up */
  CHECK(odd != NULL && is_aligned(odd, 4096));
  void* ptrs[] = {a, m, v, pv, small, big_align, odd};
  for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; ++i) {
    if (ptrs[i] != NULL) memset(ptrs[i], 1, 4096);
    free(ptrs[i]);
  }
}

static void test_calloc(void) {
  volatile size_t huge = (size_t)1 << 62;
  errno = 0;
  CHECK(calloc(huge, 8) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(calloc(huge * 2, 3) == NULL && errno == ENOMEM);
  /* A freed block is cached and handed out again: calloc must zero it. */
  const size_t sizes[] = {MiB, 3 * MiB, 4 * MiB + 5};
  for (size_t s = 0; s < 3; ++s)
    for (int round = 0; round < 4; ++round) {
      unsigned char* p = calloc(1, sizes[s]);
      CHECK(p != NULL && looks_managed(p));
      if (p == NULL) continue;
      CHECK(count_nonzero(p, sizes[s]) == 0);
      memset(p, 0xff, sizes[s]);
      free(p);
    }
}

static void test_realloc(void) {
  /* small -> large -> larger -> small, data kept every time */
  unsigned char* p = malloc(1000);
  fill_pattern(p, 1000, 1);
  p = realloc(p, 3 * MiB);
  CHECK(p != NULL && looks_managed(p) && count_mismatches(p, 1000, 1) == 0);
  fill_pattern(p, 3 * MiB, 2);
  p = realloc(p, 7 * MiB);
  CHECK(p != NULL && count_mismatches(p, 3 * MiB, 2) == 0);
  fill_pattern(p, 7 * MiB, 3);
  p = realloc(p, 5 * MiB); /* shrink in place or not: prefix kept */
  CHECK(p != NULL && count_mismatches(p, 5 * MiB, 3) == 0);
  p = realloc(p, 100);
  CHECK(p != NULL && !looks_managed(p) && count_mismatches(p, 100, 3) == 0);
  free(p);
  /* realloc(NULL, big) and realloc(big, 0) */
  void* q = realloc(NULL, 2 * MiB);
  CHECK(q != NULL && looks_managed(q));
  CHECK(realloc(q, 0) == NULL);
}

/* More live data than DRAM holds: blocks are demoted and promoted on touch. */
static void test_spilling(void) {
  enum { N = 16 };
  const size_t size = 4 * MiB - 100;
  unsigned char* p[N];
  for (int i = 0; i < N; ++i) {
    p[i] = malloc(size);
    CHECK(p[i] != NULL);
    if (p[i] == NULL) return;
    fill_pattern(p[i], size, 100 + i);
  }
  for (int i = 0; i < N; ++i) CHECK(count_mismatches(p[i], size, 100 + i) == 0);
  /* realloc of a (probably) demoted block, both directions */
  p[0] = realloc(p[0], 6 * MiB);
  CHECK(p[0] != NULL && count_mismatches(p[0], size, 100) == 0);
  unsigned char* small = realloc(p[1], 512);
  CHECK(small != NULL && count_mismatches(small, 512, 101) == 0);
  free(small);
  p[1] = NULL;
  for (int i = 2; i < N; ++i) CHECK(count_mismatches(p[i], size, 100 + i) == 0);
  for (int i = 0; i < N; ++i) free(p[i]);
}

static void test_enomem(void) {
  errno = 0;
  void* m = malloc(16 * MiB);
  CHECK(m == NULL && errno == ENOMEM);
  void* out = (void*)0x77;
  CHECK(posix_memalign(&out, 64, 16 * MiB) == ENOMEM);
  CHECK(out == (void*)0x77);
  errno = 0;
  CHECK(calloc(4, 4 * MiB) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(aligned_alloc(4096, 16 * MiB) == NULL && errno == ENOMEM);
  /* a failed realloc leaves the block as it was */
  unsigned char* s = malloc(1000);
  fill_pattern(s, 1000, 7);
  errno = 0;
  CHECK(realloc(s, 16 * MiB) == NULL && errno == ENOMEM);
  CHECK(count_mismatches(s, 1000, 7) == 0);
  free(s);
  unsigned char* b = malloc(4 * MiB);
  CHECK(b != NULL);
  if (b != NULL) {
    fill_pattern(b, 4 * MiB, 8);
    errno = 0;
    CHECK(realloc(b, 16 * MiB) == NULL && errno == ENOMEM);
    CHECK(count_mismatches(b, 4 * MiB, 8) == 0);
    free(b);
  }
  /* room again after freeing */
  void* again = malloc(6 * MiB);
  CHECK(again != NULL);
  free(again);
}

int main(int argc, char** argv) {
  require_preload();
  const char* mode = argc > 1 ? argv[1] : "spill";
  volatile size_t too_big = SIZE_MAX;
  errno = 0;
  CHECK(malloc(too_big) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(malloc(too_big / 2) == NULL && errno == ENOMEM);
  if (strcmp(mode, "enomem") == 0) {
    test_zero_and_null();
    test_enomem();
  } else {
    test_zero_and_null();
    test_posix_memalign();
    test_aligned_family();
    test_calloc();
    test_realloc();
    test_spilling();
  }
  printf("malloc_semantics %s: %d failure(s)\n", mode, tt_failures);
  return tt_failures == 0 ? 0 : 1;
}
