/*
 * Exec storm driver for the event-source benchmarks: W workers each fork + exec
 * `/bin/true storm-<worker>-<i>` and wait, N times in all, as fast as the machine allows.
 * Each worker W writes one line per child, "pid argv1", to the file PIDFILE.W, so the
 * benchmark knows exactly which processes were made and what their argv was. It exits
 * non-zero when a fork fails or a child does not exit 0 (an exec that failed).
 *
 * usage: storm TOTAL WORKERS PIDFILE
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int run_worker(int worker, int count, FILE *out) {
    char arg[64];
    for (int i = 0; i < count; i++) {
        snprintf(arg, sizeof arg, "storm-%d-%d", worker, i);
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) {
            execl("/bin/true", "/bin/true", arg, (char *)NULL);
            _exit(127);
        }
        fprintf(out, "%d %s\n", pid, arg);
        int status;
        if (waitpid(pid, &status, 0) != pid) { perror("waitpid"); return 1; }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "storm: /bin/true %s (pid %d) failed: status %#x\n", arg, (int)pid, status);
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: storm TOTAL WORKERS PIDFILE\n"); return 2; }
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
    return failed;
}
