/* A masked 2-D Jacobi stencil: the kernel the gcc_flags demo tunes.
 *
 * Cells holding NaN are obstacles: they are skipped and keep their value. The program
 * prints one line "checksum <sum> <obstacles>" and then one line per timed repetition,
 * "time_ns <n>". A build whose floating-point flags drop NaN handling (-ffinite-math-only,
 * part of -ffast-math) miscounts the obstacles or smears NaN into the grid, so its output is
 * wrong and the demo scores it INVALID.
 *
 * usage: stencil N STEPS REPS
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void init(double *grid, int n) {
    unsigned state = 12345u;
    for (int i = 0; i < n * n; i++) {
        state = state * 1103515245u + 12345u;
        grid[i] = (double)(state >> 8 & 0xffff) / 65536.0;
    }
    for (int i = 7; i < n * n; i += 97) grid[i] = NAN; /* obstacles */
}

static void sweep(const double *restrict in, double *restrict out, int n) {
    for (int i = 1; i < n - 1; i++) {
        for (int j = 1; j < n - 1; j++) {
            double c = in[i * n + j];
            if (isnan(c)) {
                out[i * n + j] = c;
                continue;
            }
            double up = in[(i - 1) * n + j], down = in[(i + 1) * n + j];
            double left = in[i * n + j - 1], right = in[i * n + j + 1];
            double sum = 0.0, count = 0.0;
            if (!isnan(up)) { sum += up; count += 1.0; }
            if (!isnan(down)) { sum += down; count += 1.0; }
            if (!isnan(left)) { sum += left; count += 1.0; }
            if (!isnan(right)) { sum += right; count += 1.0; }
            out[i * n + j] = count > 0.0 ? 0.5 * c + 0.5 * sum / count : c;
        }
    }
}

static double run(double *a, double *b, int n, int steps) {
    for (int s = 0; s < steps; s++) {
        sweep(a, b, n);
        double *t = a; a = b; b = t;
    }
    double total = 0.0;
    for (int i = 0; i < n * n; i++)
        if (!isnan(a[i])) total += a[i];
    return total;
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s N STEPS REPS\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[1]), steps = atoi(argv[2]), reps = atoi(argv[3]);
    double *a = malloc(sizeof(double) * n * n), *b = malloc(sizeof(double) * n * n);
    if (!a || !b) return 3;
    int obstacles = 0;
    init(a, n);
    for (int i = 0; i < n * n; i++) obstacles += isnan(a[i]) != 0;
    for (int i = 0; i < n * n; i++) b[i] = a[i];
    double checksum = run(a, b, n, steps); /* also the warm-up */
    printf("checksum %.12e %d\n", checksum, obstacles);
    for (int r = 0; r < reps; r++) {
        init(a, n);
        for (int i = 0; i < n * n; i++) b[i] = a[i];
        long long start = now_ns();
        volatile double sink = run(a, b, n, steps);
        (void)sink;
        printf("time_ns %lld\n", now_ns() - start);
    }
    free(a);
    free(b);
    return 0;
}
