/* Static inline functions nested three deep inside a loop, for DWARF inline-expansion tests. */
#include <stdio.h>
#include <stdlib.h>

static volatile unsigned long sink;

static inline __attribute__((always_inline)) unsigned long mix(unsigned long x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdUL;
	return x ^ (x >> 29);
}

static inline __attribute__((always_inline)) unsigned long step(unsigned long acc, unsigned long i)
{
	if (__builtin_expect(i % 1000003 == 0, 0))
		fprintf(stderr, "rare %lu\n", i); /* a cold path: split ranges */
	return mix(acc + i) * 31;
}

static inline __attribute__((always_inline)) unsigned long crunch(unsigned long rounds)
{
	unsigned long acc = 7;
	for (unsigned long i = 0; i < rounds; i++)
		acc = step(acc, i);
	return acc;
}

__attribute__((noinline)) static unsigned long work(unsigned long rounds)
{
	unsigned long total = crunch(rounds);
	sink = total;
	return total + crunch(rounds / 3);
}

int main(int argc, char **argv)
{
	unsigned long rounds = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
	printf("%lu\n", work(rounds));
	return 0;
}
