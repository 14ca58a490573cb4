/*
 * dtoa.c - shortest round-trip decimal form of a double, written as Go's strconv does.
 *
 * Prometheus writes every sample value with strconv.FormatFloat/AppendFloat(v, fmt, -1, 64):
 * the fewest significant digits that read back as exactly v, and of those the closest to v
 * (ties to even). A range query writes hundreds of thousands of them, so they are computed
 * here without the C library: the Ryu algorithm (Ulf Adams, "Ryu: fast float-to-string
 * conversion", PLDI 2018) maps the binary value and the two ends of its rounding interval to
 * decimal with one 64x128-bit multiplication each, then drops digits while the interval still
 * holds a shorter number. Integers below 2^53 take a shortcut: they are their own shortest
 * digits once trailing zeros are removed.
 */
#include "api/api.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "api/pow5_tables.h"

typedef unsigned __int128 u128;

#define MANTISSA_BITS 52
#define EXPONENT_BITS 11
#define EXPONENT_BIAS 1023

/* ceil(log2(5^e)) for 0 <= e <= 3528. */
static inline int32_t pow5bits(int32_t e)
{
    return (int32_t)(((uint32_t)e * 1217359u) >> 19) + 1;
}

/* floor(log10(2^e)) for 0 <= e <= 1650. */
static inline uint32_t log10_pow2(int32_t e)
{
    return ((uint32_t)e * 78913u) >> 18;
}

/* floor(log10(5^e)) for 0 <= e <= 2620. */
static inline uint32_t log10_pow5(int32_t e)
{
    return ((uint32_t)e * 732923u) >> 20;
}

static inline uint32_t pow5_factor(uint64_t v)
{
    uint32_t n = 0;
    while (v % 5 == 0) {
        v /= 5;
        n++;
    }
    return n;
}

static inline bool multiple_of_pow5(uint64_t v, uint32_t p)
{
    return pow5_factor(v) >= p;
}

static inline bool multiple_of_pow2(uint64_t v, uint32_t p)
{
    return (v & ((1ull << p) - 1)) == 0;
}

/* (m * mul) >> j, where mul is a 128-bit table entry and j >= 64. */
static inline uint64_t mul_shift(uint64_t m, const uint64_t *mul, int32_t j)
{
    u128 lo = (u128)m * mul[0];
    u128 hi = (u128)m * mul[1];
    return (uint64_t)(((lo >> 64) + hi) >> (j - 64));
}

/*
 * Ryu's d2d: the shortest decimal m * 10^e in the rounding interval of the double with raw
 * mantissa `ieee_m` and biased exponent `ieee_e` (finite, nonzero), closest to the exact value.
 */
static void ryu(uint64_t ieee_m, uint32_t ieee_e, uint64_t *out_m, int32_t *out_e)
{
    int32_t e2;
    uint64_t m2;
    if (ieee_e == 0) {
        e2 = 1 - EXPONENT_BIAS - MANTISSA_BITS - 2;
        m2 = ieee_m;
    } else {
        e2 = (int32_t)ieee_e - EXPONENT_BIAS - MANTISSA_BITS - 2;
        m2 = (1ull << MANTISSA_BITS) | ieee_m;
    }
    /* Round-half-even reading: an even mantissa owns the ends of its interval. */
    const bool accept_bounds = (m2 & 1) == 0;
    const uint64_t mv = 4 * m2;
    /* The interval below a power of two is half as wide (the next smaller exponent). */
    const uint32_t mm_shift = ieee_m != 0 || ieee_e <= 1;

    uint64_t vr, vp, vm;
    int32_t e10;
    bool vm_trailing_zeros = false, vr_trailing_zeros = false;
    if (e2 >= 0) {
        const uint32_t q = log10_pow2(e2) - (e2 > 3);
        e10 = (int32_t)q;
        const int32_t k = POW5_INV_BITS + pow5bits((int32_t)q) - 1;
        const int32_t i = -e2 + (int32_t)q + k;
        vr = mul_shift(4 * m2, POW5_INV[q], i);
        vp = mul_shift(4 * m2 + 2, POW5_INV[q], i);
        vm = mul_shift(4 * m2 - 1 - mm_shift, POW5_INV[q], i);
        if (q <= 21) {
            /* Exactly representable quotients: at most one of mv, mp, mm is a multiple of 5. */
            if (mv % 5 == 0)
                vr_trailing_zeros = multiple_of_pow5(mv, q);
            else if (accept_bounds)
                vm_trailing_zeros = multiple_of_pow5(mv - 1 - mm_shift, q);
            else
                vp -= multiple_of_pow5(mv + 2, q);
        }
    } else {
        const uint32_t q = log10_pow5(-e2) - (-e2 > 1);
        e10 = (int32_t)q + e2;
        const int32_t i = -e2 - (int32_t)q;
        const int32_t k = pow5bits(i) - POW5_BITS;
        const int32_t j = (int32_t)q - k;
        vr = mul_shift(4 * m2, POW5[i], j);
        vp = mul_shift(4 * m2 + 2, POW5[i], j);
        vm = mul_shift(4 * m2 - 1 - mm_shift, POW5[i], j);
        if (q <= 1) {
            /* mv = 4 * m2 has two trailing zero bits; mm has one iff mm_shift. */
            vr_trailing_zeros = true;
            if (accept_bounds)
                vm_trailing_zeros = mm_shift == 1;
            else
                --vp;
        } else if (q < 63) {
            vr_trailing_zeros = multiple_of_pow2(mv, q);
        }
    }

    int32_t removed = 0;
    uint8_t last_removed = 0;
    uint64_t output;
    if (vm_trailing_zeros || vr_trailing_zeros) {
        /* Rare (< 1 %): the exact value or the lower end has only zeros past some digit, so
         * ties and the inclusive lower bound must be tracked digit by digit. */
        for (;;) {
            const uint64_t vp10 = vp / 10, vm10 = vm / 10;
            if (vp10 <= vm10)
                break;
            const uint64_t vr10 = vr / 10;
            vm_trailing_zeros &= vm - vm10 * 10 == 0;
            vr_trailing_zeros &= last_removed == 0;
            last_removed = (uint8_t)(vr - vr10 * 10);
            vr = vr10;
            vp = vp10;
            vm = vm10;
            ++removed;
        }
        if (vm_trailing_zeros) {
            for (;;) {
                const uint64_t vm10 = vm / 10;
                if (vm - vm10 * 10 != 0)
                    break;
                const uint64_t vr10 = vr / 10;
                vr_trailing_zeros &= last_removed == 0;
                last_removed = (uint8_t)(vr - vr10 * 10);
                vr = vr10;
                vp /= 10;
                vm = vm10;
                ++removed;
            }
        }
        if (vr_trailing_zeros && last_removed == 5 && vr % 2 == 0)
            last_removed = 4; /* exactly half: round to even */
        output = vr + ((vr == vm && (!accept_bounds || !vm_trailing_zeros)) || last_removed >= 5);
    } else {
        bool round_up = false;
        const uint64_t vp100 = vp / 100, vm100 = vm / 100;
        if (vp100 > vm100) { /* two digits at a time first: the usual case */
            const uint64_t vr100 = vr / 100;
            round_up = vr - vr100 * 100 >= 50;
            vr = vr100;
            vp = vp100;
            vm = vm100;
            removed += 2;
        }
        for (;;) {
            const uint64_t vp10 = vp / 10, vm10 = vm / 10;
            if (vp10 <= vm10)
                break;
            const uint64_t vr10 = vr / 10;
            round_up = vr - vr10 * 10 >= 5;
            vr = vr10;
            vp = vp10;
            vm = vm10;
            ++removed;
        }
        output = vr + (vr == vm || round_up);
    }
    *out_m = output;
    *out_e = e10 + removed;
}

int api_shortest(double v, uint64_t *m, int *exp10)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    const uint64_t ieee_m = bits & ((1ull << MANTISSA_BITS) - 1);
    const uint32_t ieee_e = (uint32_t)((bits >> MANTISSA_BITS) & ((1u << EXPONENT_BITS) - 1));

    uint64_t d;
    int32_t e;
    const int32_t e2 = (int32_t)ieee_e - EXPONENT_BIAS - MANTISSA_BITS;
    const uint64_t m2 = (1ull << MANTISSA_BITS) | ieee_m;
    if (ieee_e != 0 && e2 <= 0 && e2 >= -MANTISSA_BITS &&
        (m2 & ((1ull << -e2) - 1)) == 0) {
        /* An integer below 2^53: exact, and no shorter decimal lies within half an ulp. */
        d = m2 >> -e2;
        e = 0;
        while (d % 10 == 0) {
            d /= 10;
            e++;
        }
    } else {
        ryu(ieee_m, ieee_e, &d, &e);
    }
    /* Digits of d (< 10^17): floor(log10) estimated from the bit length, then corrected. */
    static const uint64_t pow10[18] = {
        1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
        100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
        10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
        100000000000000000ull,
    };
    int lg = ((64 - __builtin_clzll(d | 1)) * 1233) >> 12;
    int n = lg + 1 - (d < pow10[lg]);
    *m = d;
    *exp10 = e;
    return n;
}

/* "00" "01" ... "99": two digits per division. */
static const char DIGIT_PAIRS[201] =
    "00010203040506070809101112131415161718192021222324"
    "25262728293031323334353637383940414243444546474849"
    "50515253545556575859606162636465666768697071727374"
    "75767778798081828384858687888990919293949596979899";

/* Writes the four digits of v < 10000 at p. */
static inline void put4(char *p, uint32_t v)
{
    memcpy(p, DIGIT_PAIRS + 2 * (v / 100), 2);
    memcpy(p + 2, DIGIT_PAIRS + 2 * (v % 100), 2);
}

/* Writes the n decimal digits of d (exactly n of them) at out, no terminator: eight at a time
 * in 32-bit arithmetic, then pairs. */
static void put_digits(char *out, uint64_t d, int n)
{
    char *p = out + n;
    while (d >= 100000000) {
        uint32_t lo = (uint32_t)(d % 100000000);
        d /= 100000000;
        p -= 8;
        put4(p, lo / 10000);
        put4(p + 4, lo % 10000);
    }
    uint32_t x = (uint32_t)d;
    while (x >= 100) {
        p -= 2;
        memcpy(p, DIGIT_PAIRS + 2 * (x % 100), 2);
        x /= 100;
    }
    if (x >= 10) {
        p -= 2;
        memcpy(p, DIGIT_PAIRS + 2 * x, 2);
    } else {
        *--p = (char)('0' + x);
    }
}

/* Go's 'f' with precision -1: all integer digits, no exponent, no trailing zeros. */
static size_t fixed(char *out, uint64_t d, int n, int e)
{
    size_t o = 0;
    if (e >= 0) {
        put_digits(out, d, n);
        o = (size_t)n;
        memset(out + o, '0', (size_t)e);
        return o + (size_t)e;
    }
    if (n + e > 0) {
        int ints = n + e;
        put_digits(out + 1, d, n); /* then slide the integer part left over the point's place */
        memmove(out, out + 1, (size_t)ints);
        out[ints] = '.';
        return (size_t)n + 1;
    }
    out[o++] = '0';
    out[o++] = '.';
    memset(out + o, '0', (size_t)(-e - n));
    o += (size_t)(-e - n);
    put_digits(out + o, d, n);
    return o + (size_t)n;
}

/* Go's 'e' with precision -1: d[.ddd]e±XX, at least two exponent digits. */
static size_t scientific(char *out, uint64_t d, int n, int e)
{
    size_t o = 0;
    char digits[17];
    put_digits(digits, d, n);
    out[o++] = digits[0];
    if (n > 1) {
        out[o++] = '.';
        memcpy(out + o, digits + 1, (size_t)n - 1);
        o += (size_t)n - 1;
    }
    int x = e + n - 1;
    out[o++] = 'e';
    out[o++] = x < 0 ? '-' : '+';
    if (x < 0)
        x = -x;
    if (x >= 100)
        out[o++] = (char)('0' + x / 100);
    out[o++] = (char)('0' + x / 10 % 10);
    out[o++] = (char)('0' + x % 10);
    return o;
}

size_t api_format_value(char *out, double v, bool sample)
{
    if (v != v) {
        memcpy(out, "NaN", 3);
        return 3;
    }
    if (v == __builtin_inf() || v == -__builtin_inf()) {
        memcpy(out, v > 0 ? "+Inf" : "-Inf", 4);
        return 4;
    }
    size_t o = 0;
    if (__builtin_signbit(v))
        out[o++] = '-';
    if (v == 0) {
        out[o++] = '0';
        return o;
    }
    uint64_t d;
    int e;
    int n = api_shortest(v, &d, &e);
    double a = v < 0 ? -v : v;
    if (sample && (a < 1e-6 || a >= 1e21))
        return o + scientific(out + o, d, n, e);
    return o + fixed(out + o, d, n, e);
}

int api_put_value(buf_t *out, double v)
{
    char s[API_VALUE_MAX];
    return buf_append(out, s, api_format_value(s, v, true));
}

int api_put_float(buf_t *out, double v)
{
    char s[API_VALUE_MAX];
    return buf_append(out, s, api_format_value(s, v, false));
}
