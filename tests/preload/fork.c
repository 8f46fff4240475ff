/* fork() under libtensortier_preload.so with blocks spilled to PMem.
   1. A child inherits every block with its contents at fork time (the PMem
      tier is a shared file: the child must get a private copy), can write
      them, realloc and free them, allocate new large blocks; the parent's
      blocks are unchanged by all that, and the parent keeps spilling.
   2. Forks while two threads allocate, touch and free spilled blocks: no
      child deadlocks (each must finish within the alarm), none sees
      corruption.
   3. A child forked before its parent ever created the tiers gets its own. */
#include "preload_test_util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)
enum { N = 12 };
static const size_t kSize = 4 * MiB - 1000;

static int wait_child(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  if (WIFSIGNALED(status)) {
    fprintf(stderr, "child %d killed by signal %d\n", (int)pid, WTERMSIG(status));
    return -1;
  }
  return WEXITSTATUS(status);
}

static int child_work(unsigned char** blocks) {
  alarm(60);
  int bad = 0;
  for (int i = 0; i < N; ++i) bad += count_mismatches(blocks[i], kSize, 10 + i) != 0;
  for (int i = 0; i < N; ++i) fill_pattern(blocks[i], kSize, 500 + i); /* the child's own */
  for (int i = 0; i < 6; ++i) {                                       /* new large blocks */
    unsigned char* p = malloc(5 * MiB);
    if (p == NULL) return 3;
    fill_pattern(p, 5 * MiB, 900 + i);
    bad += count_mismatches(p, 5 * MiB, 900 + i) != 0;
    free(p);
  }
  blocks[0] = realloc(blocks[0], 9 * MiB);
  if (blocks[0] == NULL) return 4;
  bad += count_mismatches(blocks[0], kSize, 500) != 0;
  for (int i = 1; i < N; ++i) bad += count_mismatches(blocks[i], kSize, 500 + i) != 0;
  for (int i = 0; i < N; ++i) free(blocks[i]);
  return bad == 0 ? 0 : 5;
}

static void test_child_gets_a_private_copy(void) {
  unsigned char* blocks[N];
  for (int i = 0; i < N; ++i) {
    blocks[i] = malloc(kSize);
    CHECK(blocks[i] != NULL);
    fill_pattern(blocks[i], kSize, 10 + i);
  }
  fflush(NULL);
  const pid_t pid = fork();
  if (pid == 0) _exit(child_work(blocks));
  CHECK(pid > 0);
  CHECK(wait_child(pid) == 0);
  for (int i = 0; i < N; ++i) CHECK(count_mismatches(blocks[i], kSize, 10 + i) == 0);
  /* the parent keeps tiering: more blocks, all read back */
  unsigned char* more[N];
  for (int i = 0; i < N; ++i) {
    more[i] = malloc(kSize);
    CHECK(more[i] != NULL);
    fill_pattern(more[i], kSize, 50 + i);
  }
  for (int i = 0; i < N; ++i) {
    CHECK(count_mismatches(blocks[i], kSize, 10 + i) == 0);
    CHECK(count_mismatches(more[i], kSize, 50 + i) == 0);
    free(blocks[i]);
    free(more[i]);
  }
}

static volatile int stop_threads = 0;

static void* churn(void* arg) {
  const uint64_t id = (uint64_t)(uintptr_t)arg;
  unsigned char* mine[4] = {0};
  for (uint64_t round = 0; !stop_threads; ++round) {
    const int k = (int)(round % 4);
    if (mine[k] != NULL) {
      if (count_mismatches(mine[k], 3 * MiB, id * 1000 + round - 4) != 0) {
        fprintf(stderr, "churn thread: corrupted block\n");
        ++tt_failures;
      }
      free(mine[k]);
    }
    mine[k] = malloc(3 * MiB);
    fill_pattern(mine[k], 3 * MiB, id * 1000 + round);
  }
  for (int k = 0; k < 4; ++k) free(mine[k]);
  return NULL;
}

static void test_fork_while_threads_spill(void) {
  unsigned char* shared = malloc(kSize);
  fill_pattern(shared, kSize, 77);
  pthread_t threads[2];
  for (int i = 0; i < 2; ++i) pthread_create(&threads[i], NULL, churn, (void*)(uintptr_t)(i + 1));
  for (int round = 0; round < 20; ++round) {
    const pid_t pid = fork();
    if (pid == 0) {
      alarm(30); /* a deadlocked child fails the test instead of hanging it */
      int bad = count_mismatches(shared, kSize, 77) != 0;
      unsigned char* p = malloc(6 * MiB);
      fill_pattern(p, 6 * MiB, round);
      bad += count_mismatches(p, 6 * MiB, round) != 0;
      free(p);
      free(shared);
      _exit(bad);
    }
    CHECK(pid > 0);
    CHECK(wait_child(pid) == 0);
  }
  stop_threads = 1;
  for (int i = 0; i < 2; ++i) pthread_join(threads[i], NULL);
  CHECK(count_mismatches(shared, kSize, 77) == 0);
  free(shared);
}

int main(int argc, char** argv) {
  require_preload();
  if (argc > 1 && strcmp(argv[1], "fork-first") == 0) {
    /* No large allocation yet: the child creates its own tiers. */
    const pid_t pid = fork();
    if (pid == 0) {
      unsigned char* blocks[N];
      for (int i = 0; i < N; ++i) {
        blocks[i] = malloc(kSize);
        fill_pattern(blocks[i], kSize, i);
      }
      int bad = 0;
      for (int i = 0; i < N; ++i) bad += count_mismatches(blocks[i], kSize, i) != 0;
      for (int i = 0; i < N; ++i) free(blocks[i]);
      exit(bad); /* exit(): the child writes its TENSORTIER_STATS */
    }
    CHECK(wait_child(pid) == 0);
  } else {
    test_child_gets_a_private_copy();
    test_fork_while_threads_spill();
  }
  printf("fork: %d failure(s)\n", tt_failures);
  return tt_failures == 0 ? 0 : 1;
}
