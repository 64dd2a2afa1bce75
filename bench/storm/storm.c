/*
 * Exec storm driver for the event-source benchmarks: W workers each fork + exec
 * `/bin/true storm-<worker>-<i>` and wait, N times in all, as fast as the machine allows.
 * Each worker W writes one line per child, "pid argv1", to the file PIDFILE.W, so the
 * benchmark knows exactly which processes were made and what their argv was. It exits
 * non-zero when a fork fails or a child does not exit 0 (an exec that failed).
 *
 * $STORM_EXEC, when set, is run instead of /bin/true (a link to it under a name of its own
 * gives the storm's processes a comm no other process on a shared machine has).
 *
 * With a fourth argument RUSAGE, it also writes to that file what the kernel accounted for all
 * its descendants once they were reaped (getrusage(RUSAGE_CHILDREN)): "USER_US SYSTEM_US", the
 * total that exit accounting is measured against (issue 12).
 *
 * usage: storm TOTAL WORKERS PIDFILE [RUSAGE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int run_worker(int worker, int count, FILE *out) {
    char arg[64];
    const char *exe = getenv("STORM_EXEC") ? getenv("STORM_EXEC") : "/bin/true";
    for (int i = 0; i < count; i++) {
        snprintf(arg, sizeof arg, "storm-%d-%d", worker, i);
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) {
            execl(exe, exe, arg, (char *)NULL);
            _exit(127);
        }
        fprintf(out, "%d %s\n", pid, arg);
        int status;
        if (waitpid(pid, &status, 0) != pid) { perror("waitpid"); return 1; }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "storm: %s %s (pid %d) failed: status %#x\n", exe, arg, (int)pid, status);
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) { fprintf(stderr, "usage: storm TOTAL WORKERS PIDFILE [RUSAGE]\n"); return 2; }
    int total = atoi(argv[1]), workers = atoi(argv[2]);
    if (total <= 0 || workers <= 0) { fprintf(stderr, "storm: TOTAL and WORKERS must be positive\n"); return 2; }
    int failed = 0, status;
    for (int w = 0; w < workers; w++) {
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); failed = 1; break; }
        if (pid == 0) {
            char path[4096];
            snprintf(path, sizeof path, "%s.%d", argv[3], w);
            FILE *out = fopen(path, "w");
            if (!out) { perror(path); _exit(1); }
            int rc = run_worker(w, total / workers + (w < total % workers), out);
            if (fclose(out) != 0) { perror(path); rc = 1; }
            _exit(rc);
        }
    }
    while (wait(&status) > 0) failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    if (argc == 5) {
        struct rusage r;
        FILE *out = fopen(argv[4], "w");
        if (!out || getrusage(RUSAGE_CHILDREN, &r) != 0) { perror(argv[4]); return 1; }
        fprintf(out, "%lld %lld\n", (long long)r.ru_utime.tv_sec * 1000000 + r.ru_utime.tv_usec,
                (long long)r.ru_stime.tv_sec * 1000000 + r.ru_stime.tv_usec);
        if (fclose(out) != 0) { perror(argv[4]); return 1; }
    }
    return failed;
}
