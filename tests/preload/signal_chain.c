/* The library's SIGSEGV handler resolves touches of demoted blocks itself and
   chains every other fault to the handler installed before it — here the
   program's own, which recovers with siglongjmp, as language runtimes do.
   Checked: spilled blocks touched by three threads never reach the program's
   handler; a fault outside the tiers and one on a freed block inside the
   tiers' range both do, with the right address, while spilling goes on. */
#include "preload_test_util.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)

static volatile sig_atomic_t app_faults = 0;
static void* volatile last_fault_addr = NULL;
static __thread sigjmp_buf* recover_to = NULL;

static void app_handler(int sig, siginfo_t* info, void* context) {
  (void)sig;
  (void)context;
  ++app_faults;
  last_fault_addr = info->si_addr;
  if (recover_to != NULL) siglongjmp(*recover_to, 1);
  _exit(42); /* an unexpected fault */
}

/* Reads *p; returns 1 when it faulted (and the program's handler ran). */
static int read_faults(volatile unsigned char* p) {
  sigjmp_buf env;
  recover_to = &env;
  int faulted = 0;
  if (sigsetjmp(env, 1) == 0) {
    (void)*p;
  } else {
    faulted = 1;
  }
  recover_to = NULL;
  return faulted;
}

enum { N = 10 };
static const size_t kSize = 3 * MiB;

static void* toucher(void* arg) {
  unsigned char** blocks = arg;
  for (int round = 0; round < 6; ++round)
    for (int i = 0; i < N; ++i)
      if (count_mismatches(blocks[i], kSize, i) != 0) ++tt_failures;
  return NULL;
}

int main(void) {
  require_preload();
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = app_handler;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  CHECK(sigaction(SIGSEGV, &action, NULL) == 0);

  /* The first large allocation creates the tiers (and their handler). */
  unsigned char* blocks[N];
  for (int i = 0; i < N; ++i) {
    blocks[i] = malloc(kSize);
    fill_pattern(blocks[i], kSize, i);
  }
  pthread_t threads[3];
  for (int t = 0; t < 3; ++t) pthread_create(&threads[t], NULL, toucher, blocks);

  /* A fault outside the tiers. */
  unsigned char* guard = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(read_faults(guard) == 1);
  CHECK(last_fault_addr == guard);

  /* A fault inside the tiers' range, on a freed block. */
  unsigned char* freed = malloc(5 * MiB);
  free(freed);
  CHECK(read_faults(freed + 12345) == 1);
  CHECK(last_fault_addr == freed + 12345);

  for (int t = 0; t < 3; ++t) pthread_join(threads[t], NULL);
  CHECK(app_faults == 2); /* the spilled blocks' faults never reached it */
  for (int i = 0; i < N; ++i) {
    CHECK(count_mismatches(blocks[i], kSize, i) == 0);
    free(blocks[i]);
  }
  printf("signal_chain: %d program faults, %d failure(s)\n", (int)app_faults, tt_failures);
  return tt_failures == 0 ? 0 : 1;
}
