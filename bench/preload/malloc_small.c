/* A malloc-heavy small-size workload, to measure what interposition costs
   when nothing is tiered (every request is below TENSORTIER_MIN_SIZE).
     churn    a ring of 8192 live blocks, each op frees one and mallocs a new
              one of 16-1024 bytes (most below 128), every 8th is a realloc
     strings  a chained hash table of strdup'd keys: insert, look up, delete
              and re-insert, table grown with realloc (an interpreter-like mix)
   Prints one JSON line with the wall and CPU seconds of the timed loop and a
   checksum (the same with and without the library).
   Usage: malloc_small churn|strings [operations] */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng = 88172645463325252ull;
static uint64_t next_random(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static double clock_seconds(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t small_size(void) {
  const uint64_t r = next_random();
  return (r & 3) ? 16 + (r >> 8) % 112 : 16 + (r >> 8) % 1008;
}

static uint64_t churn(long ops) {
  enum { kRing = 8192 };
  static unsigned char* ring[kRing];
  static size_t sizes[kRing];
  uint64_t sum = 0;
  for (long i = 0; i < ops; ++i) {
    const size_t k = next_random() % kRing;
    if (ring[k] != NULL) sum += ring[k][0] + ring[k][sizes[k] - 1];
    const size_t bytes = small_size();
    if ((i & 7) == 0 && ring[k] != NULL) {
      ring[k] = realloc(ring[k], bytes);
    } else {
      free(ring[k]);
      ring[k] = malloc(bytes);
    }
    sizes[k] = bytes;
    ring[k][0] = (unsigned char)i;
    ring[k][bytes - 1] = (unsigned char)(i >> 8);
  }
  for (size_t k = 0; k < kRing; ++k) free(ring[k]);
  return sum;
}

struct entry {
  char* key;
  struct entry* next;
  long value;
};

static uint64_t hash(const char* s) {
  uint64_t h = 1469598103934665603ull;
  while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
  return h;
}

static uint64_t strings(long ops) {
  size_t buckets = 64, count = 0;
  struct entry** table = calloc(buckets, sizeof *table);
  uint64_t sum = 0;
  char key[64];
  for (long i = 0; i < ops; ++i) {
    snprintf(key, sizeof key, "key-%lu", (unsigned long)(next_random() % 50000));
    struct entry** slot = &table[hash(key) & (buckets - 1)];
    while (*slot != NULL && strcmp((*slot)->key, key) != 0) slot = &(*slot)->next;
    if (*slot != NULL) {
      sum += (uint64_t)(*slot)->value;
      if (i % 3 == 0) { /* delete */
        struct entry* dead = *slot;
        *slot = dead->next;
        free(dead->key);
        free(dead);
        --count;
      }
      continue;
    }
    struct entry* e = malloc(sizeof *e);
    e->key = strdup(key);
    e->value = i;
    e->next = NULL;
    *slot = e;
    if (++count > buckets && buckets < 65536) { /* grow: rehash into a realloc'd table */
      table = realloc(table, 2 * buckets * sizeof *table);
      memset(table + buckets, 0, buckets * sizeof *table);
      for (size_t b = 0; b < buckets; ++b) {
        struct entry** link = &table[b];
        while (*link != NULL) {
          struct entry* cur = *link;
          if (hash(cur->key) & buckets) {
            *link = cur->next;
            cur->next = table[b + buckets];
            table[b + buckets] = cur;
          } else {
            link = &cur->next;
          }
        }
      }
      buckets *= 2;
    }
  }
  for (size_t b = 0; b < buckets; ++b)
    while (table[b] != NULL) {
      struct entry* dead = table[b];
      table[b] = dead->next;
      free(dead->key);
      free(dead);
    }
  free(table);
  return sum;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "churn";
  const long ops = argc > 2 ? atol(argv[2]) : 20000000;
  const double wall = clock_seconds(CLOCK_MONOTONIC);
  const double cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
  const uint64_t sum = strcmp(mode, "strings") == 0 ? strings(ops) : churn(ops);
  printf("{\"mode\": \"%s\", \"ops\": %ld, \"seconds\": %.6f, \"cpu_seconds\": %.6f, "
         "\"checksum\": %llu}\n",
         mode, ops, clock_seconds(CLOCK_MONOTONIC) - wall,
         clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu, (unsigned long long)sum);
  return 0;
}
