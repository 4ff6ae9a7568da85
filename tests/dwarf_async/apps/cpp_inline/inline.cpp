// Namespaces, inlined methods (DW_AT_specification) and a lambda, for DWARF name tests.
#include <cstdio>
#include <cstdlib>

namespace app {
namespace {
volatile unsigned long sink;
}

struct Accumulator {
	unsigned long total = 3;
	__attribute__((always_inline)) inline void add(unsigned long x);
};

__attribute__((always_inline)) inline void Accumulator::add(unsigned long x)
{
	total = (total ^ x) * 0x100000001b3UL;
}

template <typename F>
__attribute__((noinline)) unsigned long run(unsigned long rounds, F step)
{
	Accumulator acc;
	for (unsigned long i = 0; i < rounds; i++)
		step(acc, i);
	return acc.total;
}
}  // namespace app

int main(int argc, char **argv)
{
	unsigned long rounds = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1000;
	auto step = [](app::Accumulator &acc, unsigned long i) __attribute__((always_inline)) {
		acc.add(i * i);
	};
	app::sink = app::run(rounds, step);
	std::printf("%lu\n", (unsigned long)app::sink);
	return 0;
}
