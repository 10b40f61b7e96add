// util/rng: the Philox 4x32-10 counter-based generator (Salmon et al., SC'11, as in
// Random123) and the lm_rng_* helpers that turn (seed, stream, index) into uint32,
// uniform and normal draws. Every draw is a pure function of its inputs.
#include "lemma/util.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u // golden ratio
#define PHILOX_W1 0xBB67AE85u // sqrt(3) - 1

// One Philox round: two 32x32->64 multiplies, then a permuting xor with the round key.
static Philox4x32 philox_round(Philox4x32 c, uint32_t k0, uint32_t k1) {
    uint64_t p0 = (uint64_t)PHILOX_M0 * c.v[0];
    uint64_t p1 = (uint64_t)PHILOX_M1 * c.v[2];
    Philox4x32 out;
    out.v[0] = (uint32_t)(p1 >> 32) ^ c.v[1] ^ k0;
    out.v[1] = (uint32_t)p1;
    out.v[2] = (uint32_t)(p0 >> 32) ^ c.v[3] ^ k1;
    out.v[3] = (uint32_t)p0;
    return out;
}

Philox4x32 philox4x32_10(Philox4x32 ctr, uint32_t key0, uint32_t key1) {
    for (int r = 0; r < 10; r++) {
        if (r > 0) { // the key is bumped by the Weyl constants before rounds 2..10
            key0 += PHILOX_W0;
            key1 += PHILOX_W1;
        }
        ctr = philox_round(ctr, key0, key1);
    }
    return ctr;
}

Philox4x32 lm_rng_block(uint64_t seed, uint64_t stream, uint64_t counter) {
    Philox4x32 ctr = {{(uint32_t)counter, (uint32_t)(counter >> 32), (uint32_t)stream,
                       (uint32_t)(stream >> 32)}};
    return philox4x32_10(ctr, (uint32_t)seed, (uint32_t)(seed >> 32));
}

uint32_t lm_rng_u32(uint64_t seed, uint64_t stream, uint64_t i) {
    return lm_rng_block(seed, stream, i / 4).v[i % 4];
}

// Top 24 bits of w as a float in [0, 1): exact in float, never rounds up to 1.
static float u32_to_unit(uint32_t w) { return (float)(w >> 8) * (1.0f / 16777216.0f); }

float lm_rng_uniform(uint64_t seed, uint64_t stream, uint64_t i) {
    return u32_to_unit(lm_rng_u32(seed, stream, i));
}

// Box-Muller on words 0 and 1 of block i: u1 in (0, 1] so the log is finite, u2 in [0, 1).
float lm_rng_normal(uint64_t seed, uint64_t stream, uint64_t i) {
    Philox4x32 b = lm_rng_block(seed, stream, i);
    double u1 = ((double)(b.v[0] >> 8) + 1.0) * (1.0 / 16777216.0);
    double u2 = (double)(b.v[1] >> 8) * (1.0 / 16777216.0);
    double two_pi = 6.283185307179586476925286766559;
    return (float)(sqrt(-2.0 * log(u1)) * cos(two_pi * u2));
}
