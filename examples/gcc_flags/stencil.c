/* A masked 2-D Jacobi stencil with a convergence residual: the kernel the gcc_flags demo tunes.
 *
 * Each sweep also sums |new - old| (the residual a solver checks for convergence). That
 * floating-point reduction is where -O3 -march=native leaves speed on the table: without
 * -fassociative-math GCC must add in source order, so it vectorizes the sum as a slow
 * in-order reduction; with it (a safe subset of -ffast-math here) the sum runs in vector lanes.
 *
 * Some cells are obstacles: they keep their value and are marked NaN in the final grid. The
 * program prints one line "checksum <sum> <obstacles>" and then one line per timed
 * repetition, "time_ns <n>". A build whose floating-point flags drop NaN handling
 * (-ffinite-math-only, part of -ffast-math) miscounts the obstacles and sums NaN, so its
 * output is wrong and the demo scores it INVALID.
 *
 * usage: stencil N STEPS REPS
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void init(double *value, double *mask, int n) {
    unsigned state = 12345u;
    for (int i = 0; i < n * n; i++) {
        state = state * 1103515245u + 12345u;
        value[i] = (double)(state >> 8 & 0xffff) / 65536.0;
        mask[i] = 1.0;
    }
    for (int i = 7; i < n * n; i += 97) { /* obstacles */
        value[i] = 0.0;
        mask[i] = 0.0;
    }
}

/* One relaxation sweep: each open cell moves halfway to the mean of its open neighbours.
   Returns the residual, the sum of |change| over the grid. */
static double sweep(const double *restrict in, double *restrict out, const double *restrict mask, int n) {
    double residual = 0.0;
    for (int i = 1; i < n - 1; i++) {
        for (int j = 1; j < n - 1; j++) {
            int k = i * n + j;
            double weight = mask[k - n] + mask[k + n] + mask[k - 1] + mask[k + 1];
            double sum = mask[k - n] * in[k - n] + mask[k + n] * in[k + n]
                       + mask[k - 1] * in[k - 1] + mask[k + 1] * in[k + 1];
            double relaxed = 0.5 * in[k] + 0.5 * sum / (weight > 0.0 ? weight : 1.0);
            out[k] = mask[k] * relaxed + (1.0 - mask[k]) * in[k];
            residual += fabs(out[k] - in[k]);
        }
    }
    return residual;
}

/* Runs the sweeps, marks obstacles as NaN, and sums the open cells (NaN-aware). */
static double run(double *a, double *b, const double *mask, int n, int steps, int *obstacles) {
    for (int s = 0; s < steps; s++) {
        double residual = sweep(a, b, mask, n);
        double *t = a; a = b; b = t;
        if (residual < 1e-300) break; /* converged */
    }
    for (int i = 0; i < n * n; i++)
        if (mask[i] == 0.0) a[i] = NAN;
    double total = 0.0;
    *obstacles = 0;
    for (int i = 0; i < n * n; i++) {
        if (isnan(a[i])) (*obstacles)++;
        else total += a[i];
    }
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
    int n = atoi(argv[1]), steps = atoi(argv[2]), reps = atoi(argv[3]), obstacles = 0;
    size_t bytes = sizeof(double) * (size_t)n * (size_t)n;
    double *a = malloc(bytes), *b = malloc(bytes), *mask = malloc(bytes);
    if (!a || !b || !mask) return 3;
    init(a, mask, n);
    memcpy(b, a, bytes);
    double checksum = run(a, b, mask, n, steps, &obstacles); /* also the warm-up */
    printf("checksum %.12e %d\n", checksum, obstacles);
    for (int r = 0; r < reps; r++) {
        init(a, mask, n);
        memcpy(b, a, bytes);
        long long start = now_ns();
        volatile double sink = run(a, b, mask, n, steps, &obstacles);
        (void)sink;
        printf("time_ns %lld\n", now_ns() - start);
    }
    free(a);
    free(b);
    free(mask);
    return 0;
}
