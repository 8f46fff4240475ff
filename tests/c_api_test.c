/* The C ABI from a C99 program linked only against libtensortier.so: a 32 MiB
 * DRAM budget with a 256 MiB emulated PMem file (in a private directory under
 * /tmp, removed at the end), blocks past the DRAM budget, migration, pinning,
 * statistics, two threads sharing a context, thread-local errors, and every
 * bad input giving its status and a message. Prints
 * "N passed, N failed" and exits non-zero on any failure. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tensortier/tensortier.h"

static int g_passed = 0;
static int g_failed = 0;

#define CHECK(cond)                                                                       \
  do {                                                                                    \
    if (cond) {                                                                           \
      ++g_passed;                                                                         \
    } else {                                                                              \
      ++g_failed;                                                                         \
      fprintf(stderr, "%s:%d: FAILED: %s (tt_errormsg: \"%s\")\n", __FILE__, __LINE__, \
              #cond, tt_errormsg());                                                      \
    }                                                                                     \
  } while (0)

/* The call returns `status` and leaves a non-empty message. */
#define CHECK_FAILS(call, status)                                                      \
  do {                                                                                 \
    tt_status s_ = (call);                                                             \
    if (s_ == (status) && tt_errormsg()[0] != '\0') {                                  \
      ++g_passed;                                                                      \
    } else {                                                                           \
      ++g_failed;                                                                      \
      fprintf(stderr, "%s:%d: FAILED: %s gave %s (want %s), tt_errormsg \"%s\"\n",     \
              __FILE__, __LINE__, #call, tt_status_name(s_), tt_status_name(status), \
              tt_errormsg());                                                          \
    }                                                                                  \
  } while (0)

/* The call succeeds and leaves the message empty. */
#define CHECK_OK(call)                                                                      \
  do {                                                                                      \
    tt_status s_ = (call);                                                                  \
    if (s_ == TT_OK && tt_errormsg()[0] == '\0') {                                          \
      ++g_passed;                                                                           \
    } else {                                                                                \
      ++g_failed;                                                                           \
      fprintf(stderr, "%s:%d: FAILED: %s gave %s: %s\n", __FILE__, __LINE__, #call,        \
              tt_status_name(s_), tt_errormsg());                                           \
    }                                                                                       \
  } while (0)

#define MiB ((size_t)1 << 20)
enum { kBlocks = 8 };
static const size_t kBlockBytes = 8 * MiB; /* 8 x 8 MiB = twice the DRAM budget */

static int contains(const char* haystack, const char* needle) {
  return strstr(haystack, needle) != NULL;
}

/* Every byte of block i holds (i + 1) * 37. */
static void fill(void* p, int i) { memset(p, (i + 1) * 37 & 0xff, kBlockBytes); }
static int intact(const void* p, int i) {
  const unsigned char* b = (const unsigned char*)p;
  const unsigned char want = (unsigned char)((i + 1) * 37 & 0xff);
  size_t k;
  for (k = 0; k < kBlockBytes; k += 4096)
    if (b[k] != want || b[k + 4095] != want) return 0;
  return 1;
}

static void remove_dir(const char* dir) {
  DIR* d = opendir(dir);
  struct dirent* e;
  char path[4096];
  if (d == NULL) return;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    unlink(path);
  }
  closedir(d);
  rmdir(dir);
}

static void test_version_and_names(void) {
  int major = -1, minor = -1, patch = -1;
  CHECK_OK(tt_version(&major, &minor, &patch));
  CHECK(major == TT_VERSION_MAJOR && minor == TT_VERSION_MINOR && patch == TT_VERSION_PATCH);
  CHECK_FAILS(tt_version(NULL, &minor, &patch), TT_ERR_INVALID_ARGUMENT);
  CHECK(contains(tt_errormsg(), "major"));
  CHECK(strcmp(tt_status_name(TT_OK), "ok") == 0);
  CHECK(strcmp(tt_status_name(TT_ERR_NO_SPACE), "no_space") == 0);
  CHECK(strcmp(tt_status_name(TT_ERR_NOT_FOUND), "not_found") == 0);
  CHECK(strcmp(tt_status_name((tt_status)99), "unknown") == 0);
}

static void test_config_errors(void) {
  tt_config* cfg = NULL;
  CHECK_FAILS(tt_config_new(NULL), TT_ERR_INVALID_ARGUMENT);
  CHECK_OK(tt_config_new(&cfg));
  CHECK(cfg != NULL);
  CHECK_FAILS(tt_config_set_dram_limit(NULL, MiB), TT_ERR_INVALID_ARGUMENT);
  CHECK_FAILS(tt_config_set_dram_limit(cfg, 0), TT_ERR_INVALID_ARGUMENT);
  CHECK_FAILS(tt_config_set_pmem(cfg, "floppy:/a"), TT_ERR_INVALID_ARGUMENT);
  CHECK(contains(tt_errormsg(), "floppy") && contains(tt_errormsg(), "accepted"));
  CHECK_FAILS(tt_config_set_pmem(cfg, "file:/tmp,size=12Q"), TT_ERR_INVALID_ARGUMENT);
  CHECK_FAILS(tt_config_set_pmem(cfg, NULL), TT_ERR_INVALID_ARGUMENT);
  CHECK_FAILS(tt_config_set_policy(cfg, (tt_policy)7), TT_ERR_INVALID_ARGUMENT);
  CHECK_FAILS(tt_config_set_optane_throttle(cfg, 1, 6.6, 2.3, 0), TT_ERR_INVALID_ARGUMENT);
  CHECK_FAILS(tt_config_set_optane_throttle(cfg, 1, -1.0, 2.3, 1), TT_ERR_INVALID_ARGUMENT);
  CHECK_OK(tt_config_set_optane_throttle(cfg, 0, 6.6, 2.3, 6));
  CHECK_OK(tt_config_set_policy(cfg, TT_POLICY_NEXT_USE));
  CHECK_OK(tt_config_set_record_trace(cfg, 1));
  CHECK_FAILS(tt_config_delete(NULL), TT_ERR_INVALID_ARGUMENT);
  CHECK_OK(tt_config_delete(&cfg));
  CHECK(cfg == NULL);
  CHECK_OK(tt_config_delete(&cfg)); /* deleting NULL is fine */

  /* From the environment: a bad value names the variable. */
  CHECK(setenv("TENSORTIER_POLICY", "fifo", 1) == 0);
  cfg = (tt_config*)0x1;
  CHECK_FAILS(tt_config_from_env(&cfg), TT_ERR_INVALID_ARGUMENT);
  CHECK(contains(tt_errormsg(), "TENSORTIER_POLICY") && contains(tt_errormsg(), "fifo"));
  CHECK(cfg == (tt_config*)0x1); /* untouched on error */
  CHECK(setenv("TENSORTIER_POLICY", "next_use", 1) == 0);
  CHECK(setenv("TENSORTIER_OPTANE", "dimms=two", 1) == 0);
  CHECK_FAILS(tt_config_from_env(&cfg), TT_ERR_INVALID_ARGUMENT);
  CHECK(contains(tt_errormsg(), "TENSORTIER_OPTANE"));
  CHECK(setenv("TENSORTIER_OPTANE", "dimms=2,write=2.3", 1) == 0);
  cfg = NULL;
  CHECK_OK(tt_config_from_env(&cfg));
  CHECK(cfg != NULL);
  CHECK_OK(tt_config_delete(&cfg));
  unsetenv("TENSORTIER_POLICY");
  unsetenv("TENSORTIER_OPTANE");
}

/* A second, tiny context: DRAM only, no trace. */
static void test_no_space(void) {
  tt_config* cfg = NULL;
  tt_context* ctx = NULL;
  void* p = NULL;
  void* sentinel = (void*)0x1234;
  void* out = sentinel;
  int count = 0;
  CHECK_OK(tt_config_new(&cfg));
  CHECK_OK(tt_config_set_dram_limit(cfg, 8 * MiB));
  /* Errors of opening the tiers keep their kind. */
  CHECK_OK(tt_config_set_pmem(cfg, "devdax:/dev/dax-tensortier-missing"));
  CHECK_FAILS(tt_context_new(cfg, &ctx), TT_ERR_NOT_FOUND);
  CHECK(ctx == NULL && contains(tt_errormsg(), "dax-tensortier-missing"));
  CHECK_OK(tt_config_set_pmem(cfg, "none"));
  CHECK_OK(tt_context_new(cfg, &ctx));
  CHECK_OK(tt_config_delete(&cfg));
  if (ctx == NULL) return;
  CHECK_OK(tt_tier_count(ctx, &count));
  CHECK(count >= 1);
  CHECK_FAILS(tt_allocate(ctx, 16 * MiB, 0, TT_HINT_AUTO, &out), TT_ERR_NO_SPACE);
  CHECK(out == sentinel);
  CHECK_OK(tt_allocate(ctx, 4 * MiB, 0, TT_HINT_HOT, &p));
  CHECK_OK(tt_deallocate(ctx, p));
  CHECK_FAILS(tt_write_trace(ctx, "/tmp/tt_c_api_never_written.json"), TT_ERR_INVALID_ARGUMENT);
  CHECK(contains(tt_errormsg(), "record_trace"));
  CHECK_OK(tt_context_delete(&ctx));
}

struct thread_result {
  int empty_at_start;
  int own_failure;
};

static void* other_thread(void* arg) {
  struct thread_result* r = (struct thread_result*)arg;
  r->empty_at_start = tt_errormsg()[0] == '\0';
  r->own_failure = tt_tier_count(NULL, NULL) == TT_ERR_INVALID_ARGUMENT &&
                   contains(tt_errormsg(), "context");
  return NULL;
}

static void test_thread_local_errors(void) {
  pthread_t thread;
  struct thread_result r = {0, 0};
  char mine[256];
  CHECK_FAILS(tt_version(NULL, NULL, NULL), TT_ERR_INVALID_ARGUMENT);
  snprintf(mine, sizeof mine, "%s", tt_errormsg());
  CHECK(pthread_create(&thread, NULL, other_thread, &r) == 0);
  CHECK(pthread_join(thread, NULL) == 0);
  CHECK(r.empty_at_start); /* another thread's error is not seen here */
  CHECK(r.own_failure);
  CHECK(strcmp(tt_errormsg(), mine) == 0); /* nor ours there */
}

/* Threads share a context: each allocates, fills, checks and frees its own
 * blocks while the other's allocations push blocks out of DRAM. */
struct worker {
  tt_context* ctx;
  int id;
  int failures;
};

static void* worker_main(void* arg) {
  struct worker* w = (struct worker*)arg;
  const size_t bytes = 6 * MiB;
  void* mine[3];
  int round, k;
  size_t off;
  for (round = 0; round < 20; ++round) {
    for (k = 0; k < 3; ++k) {
      mine[k] = NULL;
      if (tt_allocate(w->ctx, bytes, 0, TT_HINT_AUTO, &mine[k]) != TT_OK) {
        ++w->failures;
        continue;
      }
      memset(mine[k], w->id * 16 + k, bytes);
    }
    if (mine[0] != NULL && tt_advise(w->ctx, mine[0], TT_ADVICE_COLD) != TT_OK) ++w->failures;
    for (k = 0; k < 3; ++k) {
      if (mine[k] == NULL) continue;
      for (off = 0; off < bytes; off += 4096)
        if (((unsigned char*)mine[k])[off] != (unsigned char)(w->id * 16 + k)) {
          ++w->failures;
          break;
        }
      if (tt_deallocate(w->ctx, mine[k]) != TT_OK) ++w->failures;
    }
  }
  return NULL;
}

static void test_threads_share_a_context(tt_context* ctx) {
  pthread_t threads[2];
  struct worker workers[2] = {{NULL, 1, 0}, {NULL, 2, 0}};
  int t;
  for (t = 0; t < 2; ++t) {
    workers[t].ctx = ctx;
    CHECK(pthread_create(&threads[t], NULL, worker_main, &workers[t]) == 0);
  }
  for (t = 0; t < 2; ++t) {
    CHECK(pthread_join(threads[t], NULL) == 0);
    CHECK(workers[t].failures == 0);
  }
  CHECK_OK(tt_wait_for_moves(ctx));
}

static void test_context(const char* pmem_dir) {
  tt_config* cfg = NULL;
  tt_context* ctx = NULL;
  char spec[512];
  void* blocks[kBlocks] = {0};
  void* sentinel = (void*)0x5678;
  void* out = sentinel;
  int count = 0, tier = -2, i, in_dram = 0, in_pmem = 0, pmem = -1, victim = -1;
  const char* name = NULL;
  int stack_variable = 0;
  char small[16];
  char* json = NULL;
  size_t needed = 0, needed_again = 0;
  char trace_path[512];
  struct stat st;

  CHECK_OK(tt_config_new(&cfg));
  CHECK_OK(tt_config_set_dram_limit(cfg, 32 * MiB));
  snprintf(spec, sizeof spec, "file:%s,size=256M", pmem_dir);
  CHECK_OK(tt_config_set_pmem(cfg, spec));
  CHECK_OK(tt_config_set_record_trace(cfg, 1));
  CHECK_FAILS(tt_context_new(NULL, &ctx), TT_ERR_INVALID_ARGUMENT);
  CHECK(contains(tt_errormsg(), "config"));
  CHECK_FAILS(tt_context_new(cfg, NULL), TT_ERR_INVALID_ARGUMENT);
  CHECK_OK(tt_context_new(cfg, &ctx));
  CHECK_OK(tt_config_delete(&cfg)); /* the context keeps its own copy */
  CHECK(ctx != NULL);
  if (ctx == NULL) return;

  /* Tiers: DRAM node(s) first, the PMem file last. */
  CHECK_OK(tt_tier_count(ctx, &count));
  CHECK(count >= 2);
  pmem = count - 1;
  CHECK_OK(tt_tier_name(ctx, 0, &name));
  CHECK(name != NULL && strncmp(name, "dram", 4) == 0);
  CHECK_OK(tt_tier_name(ctx, pmem, &name));
  CHECK(name != NULL && strcmp(name, "pmem_file") == 0);
  name = "untouched";
  CHECK_FAILS(tt_tier_name(ctx, count, &name), TT_ERR_INVALID_ARGUMENT);
  CHECK_FAILS(tt_tier_name(ctx, -1, &name), TT_ERR_INVALID_ARGUMENT);
  CHECK(strcmp(name, "untouched") == 0);
  CHECK_FAILS(tt_tier_count(ctx, NULL), TT_ERR_INVALID_ARGUMENT);

  /* Past the DRAM budget: the oldest blocks spill to PMem at the same address. */
  for (i = 0; i < kBlocks; ++i) {
    CHECK_OK(tt_allocate(ctx, kBlockBytes, 4096, TT_HINT_AUTO, &blocks[i]));
    if (blocks[i] == NULL) return;
    CHECK(((uintptr_t)blocks[i] & 4095) == 0);
    fill(blocks[i], i);
  }
  for (i = 0; i < kBlocks; ++i) {
    CHECK(intact(blocks[i], i));
    CHECK_OK(tt_tier_of(ctx, blocks[i], &tier));
    if (tier == pmem) ++in_pmem;
    else if (tier >= 0 && tier < pmem) ++in_dram;
  }
  CHECK(in_dram >= 1 && in_dram <= 4); /* 32 MiB of 8 MiB blocks */
  CHECK(in_pmem >= 4);
  CHECK(in_dram + in_pmem == kBlocks);
  /* An interior pointer is in its block's tier; a foreign one in none. */
  CHECK_OK(tt_tier_of(ctx, (char*)blocks[kBlocks - 1] + 12345, &tier));
  CHECK(tier >= 0 && tier < pmem); /* the newest block is in DRAM */
  CHECK_FAILS(tt_tier_of(ctx, &stack_variable, &tier), TT_ERR_NOT_FOUND);
  CHECK(tier == -1);

  /* Pinning the oldest block (in PMem) brings it to DRAM; a pinned block never moves. */
  CHECK_OK(tt_tier_of(ctx, blocks[0], &tier));
  CHECK(tier == pmem);
  CHECK_OK(tt_pin(ctx, blocks[0]));
  CHECK_OK(tt_pin(ctx, blocks[0])); /* pins nest */
  CHECK_OK(tt_tier_of(ctx, blocks[0], &tier));
  CHECK(tier >= 0 && tier < pmem);
  CHECK(intact(blocks[0], 0));
  CHECK_FAILS(tt_demote(ctx, blocks[0]), TT_ERR_INVALID_ARGUMENT);
  CHECK(contains(tt_errormsg(), "pinned"));
  CHECK_OK(tt_unpin(ctx, blocks[0]));
  CHECK_OK(tt_unpin(ctx, blocks[0]));
  CHECK_FAILS(tt_unpin(ctx, blocks[0]), TT_ERR_INVALID_ARGUMENT);
  CHECK_FAILS(tt_pin(ctx, &stack_variable), TT_ERR_INVALID_ARGUMENT);

  /* Advice cold demotes in the background; wait_for_moves waits for it. */
  for (i = kBlocks - 1; i >= 0 && victim < 0; --i) {
    CHECK_OK(tt_tier_of(ctx, blocks[i], &tier));
    if (tier != pmem) victim = i;
  }
  CHECK(victim >= 0);
  if (victim >= 0) {
    CHECK_OK(tt_advise(ctx, blocks[victim], TT_ADVICE_COLD));
    CHECK_OK(tt_wait_for_moves(ctx));
    CHECK_OK(tt_tier_of(ctx, blocks[victim], &tier));
    CHECK(tier == pmem);
    CHECK(intact(blocks[victim], victim));
    /* Synchronous moves both ways, same address, same bytes. */
    CHECK_OK(tt_promote(ctx, blocks[victim]));
    CHECK_OK(tt_tier_of(ctx, blocks[victim], &tier));
    CHECK(tier >= 0 && tier < pmem);
    CHECK_OK(tt_demote(ctx, blocks[victim]));
    CHECK_OK(tt_tier_of(ctx, blocks[victim], &tier));
    CHECK(tier == pmem);
    CHECK(intact(blocks[victim], victim));
    CHECK_OK(tt_advise(ctx, blocks[victim], TT_ADVICE_WILL_NEED));
    CHECK_OK(tt_wait_for_moves(ctx));
    CHECK_OK(tt_tier_of(ctx, blocks[victim], &tier));
    CHECK(tier >= 0 && tier < pmem);
  }
  CHECK_FAILS(tt_advise(ctx, blocks[1], (tt_advice)9), TT_ERR_INVALID_ARGUMENT);
  CHECK_FAILS(tt_advise(ctx, &stack_variable, TT_ADVICE_COLD), TT_ERR_INVALID_ARGUMENT);
  CHECK_FAILS(tt_wait_for_moves(NULL), TT_ERR_INVALID_ARGUMENT);

  /* The next-use policy's inputs. */
  CHECK_OK(tt_set_current_step(ctx, 10));
  CHECK_OK(tt_set_next_use(ctx, blocks[2], 12));
  CHECK_FAILS(tt_set_next_use(ctx, &stack_variable, 12), TT_ERR_INVALID_ARGUMENT);
  CHECK_FAILS(tt_set_current_step(NULL, 1), TT_ERR_INVALID_ARGUMENT);

  /* Statistics JSON sized like snprintf. */
  CHECK_OK(tt_stats_json(ctx, NULL, 0, &needed));
  CHECK(needed > 100);
  json = (char*)malloc(needed);
  CHECK(json != NULL);
  if (json != NULL) {
    memset(json, 'x', needed);
    CHECK_OK(tt_stats_json(ctx, json, needed, &needed_again));
    CHECK(needed_again == needed);
    CHECK(strlen(json) == needed - 1);
    CHECK(contains(json, "\"tiers\"") && contains(json, "\"pmem_file\"") &&
          contains(json, "\"demotions\"") && contains(json, "\"lru\""));
    memset(small, 'x', sizeof small);
    CHECK_OK(tt_stats_json(ctx, small, sizeof small, &needed_again));
    CHECK(needed_again == needed); /* truncated: needed > buf_len */
    CHECK(small[sizeof small - 1] == '\0' && strlen(small) == sizeof small - 1);
    CHECK(strncmp(small, json, sizeof small - 1) == 0);
    free(json);
  }
  CHECK_FAILS(tt_stats_json(ctx, small, sizeof small, NULL), TT_ERR_INVALID_ARGUMENT);
  CHECK_FAILS(tt_stats_json(ctx, NULL, 8, &needed), TT_ERR_INVALID_ARGUMENT);
  CHECK_FAILS(tt_stats_json(NULL, small, sizeof small, &needed), TT_ERR_INVALID_ARGUMENT);

  /* The trace holds the migrations. */
  snprintf(trace_path, sizeof trace_path, "%s/trace.json", pmem_dir);
  CHECK_OK(tt_write_trace(ctx, trace_path));
  CHECK(stat(trace_path, &st) == 0 && st.st_size > 100);
  CHECK_FAILS(tt_write_trace(ctx, NULL), TT_ERR_INVALID_ARGUMENT);
  CHECK_FAILS(tt_write_trace(ctx, "/nonexistent-dir/trace.json"), TT_ERR_IO);

  /* Bad input: a status, a message, and *out untouched. */
  CHECK_FAILS(tt_allocate(NULL, MiB, 0, TT_HINT_AUTO, &out), TT_ERR_INVALID_ARGUMENT);
  CHECK(contains(tt_errormsg(), "context"));
  CHECK_FAILS(tt_allocate(ctx, MiB, 3, TT_HINT_AUTO, &out), TT_ERR_INVALID_ARGUMENT);
  CHECK(contains(tt_errormsg(), "alignment"));
  CHECK_FAILS(tt_allocate(ctx, 0, 0, TT_HINT_AUTO, &out), TT_ERR_INVALID_ARGUMENT);
  CHECK_FAILS(tt_allocate(ctx, MiB, 0, (tt_hint)5, &out), TT_ERR_INVALID_ARGUMENT);
  CHECK_FAILS(tt_allocate(ctx, MiB, 0, TT_HINT_AUTO, NULL), TT_ERR_INVALID_ARGUMENT);
  CHECK_FAILS(tt_allocate(ctx, (size_t)-1, 0, TT_HINT_AUTO, &out), TT_ERR_INVALID_ARGUMENT);
  CHECK(out == sentinel);
  CHECK_FAILS(tt_allocate(ctx, 1024 * MiB, 0, TT_HINT_AUTO, &out), TT_ERR_NO_SPACE);
  CHECK(out == sentinel);
  CHECK_FAILS(tt_deallocate(NULL, blocks[0]), TT_ERR_INVALID_ARGUMENT);
  CHECK_FAILS(tt_deallocate(ctx, &stack_variable), TT_ERR_INVALID_ARGUMENT);
  CHECK(contains(tt_errormsg(), "not allocated"));
  CHECK_FAILS(tt_deallocate(ctx, (char*)blocks[3] + 64), TT_ERR_INVALID_ARGUMENT);
  CHECK_OK(tt_deallocate(ctx, NULL));

  /* Small blocks with a cold hint go to PMem first. */
  CHECK_OK(tt_allocate(ctx, 100, 64, TT_HINT_COLD, &out));
  CHECK(out != sentinel && ((uintptr_t)out & 63) == 0);
  CHECK_OK(tt_tier_of(ctx, out, &tier));
  CHECK(tier == pmem);
  CHECK_OK(tt_deallocate(ctx, out));

  /* Double free; and the message is cleared by the next successful call. */
  CHECK_OK(tt_deallocate(ctx, blocks[5]));
  CHECK_FAILS(tt_deallocate(ctx, blocks[5]), TT_ERR_INVALID_ARGUMENT);
  CHECK(contains(tt_errormsg(), "double free"));
  CHECK_OK(tt_tier_count(ctx, &count));
  CHECK(tt_errormsg()[0] == '\0');
  blocks[5] = NULL;

  test_threads_share_a_context(ctx);

  for (i = 0; i < kBlocks; ++i)
    if (blocks[i] != NULL) {
      CHECK(intact(blocks[i], i));
      CHECK_OK(tt_deallocate(ctx, blocks[i]));
    }
  CHECK_FAILS(tt_context_delete(NULL), TT_ERR_INVALID_ARGUMENT);
  CHECK_OK(tt_context_delete(&ctx));
  CHECK(ctx == NULL);
  CHECK_OK(tt_context_delete(&ctx)); /* deleting NULL is fine */
}

int main(void) {
  char dir[] = "/tmp/tt_c_api_XXXXXX";
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 2;
  }
  test_version_and_names();
  test_config_errors();
  test_thread_local_errors();
  test_no_space();
  test_context(dir);
  remove_dir(dir);
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
