/*
 * The start-up guard: a binary compiled for CPU features this CPU lacks exits with an
 * error naming them and the variant to use instead, rather than dying of SIGILL.
 *
 * Why C, and why before main: a variant is compiled with `-C target-cpu`, so any Rust
 * function of the binary may execute the variant's features (with x86-64-v3 even plain
 * SSE moves become VEX-encoded AVX). The only code a variant binary runs that was not
 * compiled with them is the static C library's start-up and this file, which build.rs
 * compiles for the architecture baseline. Its entry sits in `.preinit_array`, which the
 * C library runs before `.init_array` (the Rust runtime's set-up) and before `main`.
 *
 * build.rs defines, from the build's target features and its environment:
 *   SUTRA_VARIANT            the variant this binary was built as
 *   SUTRA_COMPILED_FEATURES  the catalog features compiled in, comma-separated
 *   SUTRA_FALLBACKS          the variant's fallback chain from the catalog, as
 *                            `name:feature,feature;name:...`, ending at universal
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#if defined(__aarch64__)
#include <sys/auxv.h>
#include <asm/hwcap.h>
#endif

#define EXIT_WRONG_CPU 3

/* Whether this CPU (and OS) offers the catalog feature `name` of `len` bytes. */
static int has_feature(const char *name, size_t len)
{
#define IS(literal) (len == sizeof(literal) - 1 && memcmp(name, literal, len) == 0)
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (IS("sse42")) return __builtin_cpu_supports("sse4.2");
    if (IS("avx")) return __builtin_cpu_supports("avx");
    if (IS("avx2")) return __builtin_cpu_supports("avx2");
    if (IS("fma")) return __builtin_cpu_supports("fma");
    if (IS("avx512f")) return __builtin_cpu_supports("avx512f");
    if (IS("avx512bw")) return __builtin_cpu_supports("avx512bw");
    if (IS("avx512vl")) return __builtin_cpu_supports("avx512vl");
    if (IS("avx512dq")) return __builtin_cpu_supports("avx512dq");
    if (IS("avx512cd")) return __builtin_cpu_supports("avx512cd");
    if (IS("avx512vnni")) return __builtin_cpu_supports("avx512vnni");
#elif defined(__aarch64__)
    unsigned long hwcap = getauxval(AT_HWCAP), hwcap2 = getauxval(AT_HWCAP2);
    if (IS("neon")) return (hwcap & HWCAP_ASIMD) != 0;
    if (IS("dotprod")) return (hwcap & HWCAP_ASIMDDP) != 0;
    if (IS("lse")) return (hwcap & HWCAP_ATOMICS) != 0;
    if (IS("sve")) return (hwcap & HWCAP_SVE) != 0;
    if (IS("sve2")) return (hwcap2 & HWCAP2_SVE2) != 0;
    if (IS("i8mm")) return (hwcap2 & HWCAP2_I8MM) != 0;
#endif
#undef IS
    /* build.rs only lists features named above; anything else cannot be checked. */
    return 0;
}

/* Appends to `out` (`cap` bytes) each feature of the comma-separated `list` (up to `end`)
 * this CPU lacks, comma-separated; returns how many were missing. */
static int missing_features(const char *list, const char *end, char *out, size_t cap)
{
    int missing = 0;
    while (list < end) {
        while (list < end && *list == ' ')
            list++;
        const char *comma = memchr(list, ',', (size_t)(end - list));
        const char *stop = comma ? comma : end;
        size_t len = (size_t)(stop - list);
        if (len > 0 && !has_feature(list, len)) {
            size_t used = strlen(out);
            snprintf(out + used, cap - used, "%s%.*s", missing ? ", " : "", (int)len, list);
            missing++;
        }
        list = comma ? comma + 1 : end;
    }
    return missing;
}

/* The first variant of the fallback chain whose features this CPU has. */
static void best_fallback(char *out, size_t cap)
{
    const char *entry = SUTRA_FALLBACKS;
    while (*entry) {
        const char *semicolon = strchr(entry, ';');
        const char *end = semicolon ? semicolon : entry + strlen(entry);
        const char *colon = memchr(entry, ':', (size_t)(end - entry));
        char unused[256] = "";
        if (colon && missing_features(colon + 1, end, unused, sizeof unused) == 0) {
            snprintf(out, cap, "%.*s", (int)(colon - entry), entry);
            return;
        }
        entry = semicolon ? semicolon + 1 : end;
    }
    snprintf(out, cap, "universal");
}

static void sutra_cpu_guard(void)
{
    const char *compiled = SUTRA_COMPILED_FEATURES;
    char missing[256] = "";
    if (missing_features(compiled, compiled + strlen(compiled), missing, sizeof missing) == 0)
        return;
    char best[64];
    best_fallback(best, sizeof best);
    char message[768];
    int len = snprintf(message, sizeof message,
                       "error: this sutra-storage binary was built for %s (%s) but this CPU "
                       "lacks: %s; use the %s image variant\n",
                       SUTRA_VARIANT, compiled, missing, best);
    if (len > 0) {
        ssize_t written = write(STDERR_FILENO, message, (size_t)len);
        (void)written;
    }
    _exit(EXIT_WRONG_CPU);
}

/* Global, so build.rs can make the linker keep it (`--undefined`): a static library
 * member that nothing references would be left out of the binary. */
__attribute__((used, section(".preinit_array")))
void (*const sutra_cpu_guard_entry)(void) = sutra_cpu_guard;
