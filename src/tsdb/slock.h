/*
 * slock.h - the per-series lock: four bytes where a pthread mutex takes forty, which is 4 % of
 * a head series' memory (issue 6 counts bytes per series). A futex mutex after Drepper's
 * "Futexes Are Tricky" (mutex 3): 0 free, 1 held, 2 held with waiters; uncontended lock and
 * unlock are one atomic operation each, and a waiter sleeps in the kernel instead of spinning.
 * Series locks are held for one append or one copy, so contention is rare and short.
 */
#ifndef VIGIL_TSDB_SLOCK_H
#define VIGIL_TSDB_SLOCK_H

#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct slock {
    _Atomic uint32_t state;
} slock_t;

#define SLOCK_INIT {0}

static inline void slock_futex(slock_t *l, int op, uint32_t val)
{
    syscall(SYS_futex, (uint32_t *)&l->state, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

static inline void slock_lock(slock_t *l)
{
    uint32_t c = 0;
    if (atomic_compare_exchange_strong_explicit(&l->state, &c, 1, memory_order_acquire,
                                                memory_order_relaxed))
        return;
    if (c != 2)
        c = atomic_exchange_explicit(&l->state, 2, memory_order_acquire);
    while (c != 0) {
        slock_futex(l, FUTEX_WAIT, 2);
        c = atomic_exchange_explicit(&l->state, 2, memory_order_acquire);
    }
}

static inline void slock_unlock(slock_t *l)
{
    if (atomic_exchange_explicit(&l->state, 0, memory_order_release) == 2)
        slock_futex(l, FUTEX_WAKE, 1);
}

#endif /* VIGIL_TSDB_SLOCK_H */
