/* Multithreaded stress under libtensortier_preload.so: each thread runs
   malloc/calloc/realloc/posix_memalign/free of mixed small and large sizes on
   a table of checksummed blocks, while TENSORTIER_DRAM_LIMIT keeps the live
   large blocks several times over DRAM, so blocks are demoted and promoted on
   touch all the time (by this thread and the others). Every byte is checked
   before each free and realloc and at the end: prints the corrupted bytes, and
   exits 0 only when there are none.
   Usage: preload_stress [threads] [ops per thread] */
#include "preload_test_util.h"

#include <errno.h>
#include <pthread.h>

#define MiB ((size_t)1 << 20)
enum { kSlots = 24 };

struct slot {
  unsigned char* ptr;
  size_t bytes;
  uint64_t seed;
};

struct worker {
  int id;
  long ops;
  uint64_t rng;
  size_t corrupted;
  size_t failed_allocations;
  struct slot slots[kSlots];
};

static uint64_t next_random(uint64_t* s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* 70% small (16 B - 64 KiB), 30% large (1 - 6 MiB, odd sizes). */
static size_t random_size(uint64_t* rng) {
  const uint64_t r = next_random(rng);
  if (r % 10 < 7) return 16 + (size_t)(r >> 8) % (64 * 1024);
  return MiB + (size_t)(r >> 8) % (5 * MiB);
}

static void check_slot(struct worker* w, struct slot* s) {
  if (s->ptr != NULL) w->corrupted += count_mismatches(s->ptr, s->bytes, s->seed);
}

static void release(struct worker* w, struct slot* s) {
  check_slot(w, s);
  free(s->ptr);
  s->ptr = NULL;
}

static void* run(void* arg) {
  struct worker* w = arg;
  for (long op = 0; op < w->ops; ++op) {
    struct slot* s = &w->slots[next_random(&w->rng) % kSlots];
    const uint64_t seed = ((uint64_t)w->id << 40) ^ (uint64_t)op;
    const size_t bytes = random_size(&w->rng);
    switch (next_random(&w->rng) % 6) {
      case 0: /* malloc */
        release(w, s);
        s->ptr = malloc(bytes);
        break;
      case 1: { /* calloc: zeroed, also when the block is a reused one */
        release(w, s);
        s->ptr = calloc(1, bytes);
        if (s->ptr != NULL) w->corrupted += count_nonzero(s->ptr, bytes);
        break;
      }
      case 2: { /* realloc: the common prefix survives, across the threshold too */
        if (s->ptr == NULL) continue;
        const size_t keep = s->bytes < bytes ? s->bytes : bytes;
        unsigned char* p = realloc(s->ptr, bytes);
        if (p == NULL) {
          ++w->failed_allocations;
          continue; /* the old block is intact */
        }
        w->corrupted += count_mismatches(p, keep, s->seed);
        s->ptr = p;
        break;
      }
      case 3: { /* posix_memalign, tensor-style */
        release(w, s);
        void* p = NULL;
        if (posix_memalign(&p, 64, bytes) == 0) s->ptr = p;
        break;
      }
      case 4: /* free */
        release(w, s);
        continue;
      default: /* read another block back (touches demoted blocks) */
        check_slot(w, &w->slots[next_random(&w->rng) % kSlots]);
        continue;
    }
    if (s->ptr == NULL) {
      ++w->failed_allocations;
      continue;
    }
    s->bytes = bytes;
    s->seed = seed;
    fill_pattern(s->ptr, bytes, seed);
  }
  for (int i = 0; i < kSlots; ++i) release(w, &w->slots[i]);
  return NULL;
}

int main(int argc, char** argv) {
  require_preload();
  const int threads = argc > 1 ? atoi(argv[1]) : 4;
  const long ops = argc > 2 ? atol(argv[2]) : 1500;
  struct worker* workers = calloc((size_t)threads, sizeof *workers);
  pthread_t* ids = calloc((size_t)threads, sizeof *ids);
  for (int i = 0; i < threads; ++i) {
    workers[i].id = i;
    workers[i].ops = ops;
    workers[i].rng = 0x1234567ull * (uint64_t)(i + 1);
    pthread_create(&ids[i], NULL, run, &workers[i]);
  }
  size_t corrupted = 0, failed = 0;
  for (int i = 0; i < threads; ++i) {
    pthread_join(ids[i], NULL);
    corrupted += workers[i].corrupted;
    failed += workers[i].failed_allocations;
  }
  printf("stress: %d threads x %ld ops: %zu corrupted bytes, %zu failed allocations\n", threads,
         ops, corrupted, failed);
  free(workers);
  free(ids);
  return corrupted == 0 && failed == 0 ? 0 : 1;
}
