// Symbols for the demangler's tests: templates, lambdas, std containers, virtual and multiple
// inheritance (thunks, VTTs), thread_local, static locals, anonymous namespaces, clones at -O2.
#include <map>
#include <unordered_map>
#include <vector>
#include <string>
#include <functional>
#include <memory>
#include <algorithm>
#include <iostream>
#include <sstream>
#include <tuple>
#include <array>
#include <set>

namespace shapes {
struct Shape { virtual ~Shape() = default; virtual double area() const = 0; virtual std::string name() const { return "shape"; } };
struct Named { virtual ~Named() = default; virtual std::string label() const = 0; };
struct Square : Shape, Named {
  double s; explicit Square(double s) : s(s) {}
  double area() const override { return s * s; }
  std::string label() const override { return "square"; }
};
struct Base { virtual void f() {} int b = 1; };
struct Left : virtual Base { void f() override {} };
struct Right : virtual Base { };
struct Diamond : Left, Right { void f() override {} };
}

namespace {
int hidden(int x) { static int calls = 0; return x + ++calls; }
const std::string& cached_name(int x) { static const std::string name = std::to_string(x); return name; }
struct Local { int v; bool operator<(const Local& o) const { return v < o.v; } };
}

template <typename T, int N> struct Matrix {
  std::array<T, N * N> cells{};
  T& operator()(int r, int c) { return cells[r * N + c]; }
  Matrix operator+(const Matrix& o) const { Matrix m; for (int i = 0; i < N * N; i++) m.cells[i] = cells[i] + o.cells[i]; return m; }
  explicit operator bool() const { return cells[0] != T(); }
  template <typename U> U convert() const { return static_cast<U>(cells[0]); }
};

template <typename... Args> std::string join(const Args&... args) { std::ostringstream os; ((os << args << ","), ...); return os.str(); }
template <typename F, typename... Args> auto apply_twice(F&& f, Args&&... args) -> decltype(f(args...)) { f(args...); return f(args...); }
template <typename T> auto size_of(const T& c) -> decltype(c.size()) { return c.size(); }

thread_local std::vector<int> tls_values;
static std::map<std::string, std::vector<std::pair<int, double>>> registry;

int (*pick(int which))(int) { return which ? hidden : nullptr; }
void takes_member(int shapes::Base::*p, void (shapes::Base::*m)()) { (void)p; (void)m; }
void takes_array(int (&a)[4], const char (*s)[8]) { (void)a; (void)s; }
void takes_fn(std::function<void(int, const std::string&)> f) { f(1, "x"); }
void noexcept_ptr(void (*f)() noexcept) { f(); }
long long sum_all(std::initializer_list<long long> xs) { long long t = 0; for (auto x : xs) t += x; return t; }

__attribute__((noinline)) int work(std::vector<int>& v, int k) {
  if (__builtin_expect(v.empty(), 0)) { std::cerr << "empty " << k << std::endl; throw std::runtime_error("empty"); }
  std::sort(v.begin(), v.end(), [k](int a, int b) { return (a % k) < (b % k); });
  auto gen = [](auto x, auto y) { return x * y; };
  return gen(v[0], k) + gen(1, 2);
}

int main(int argc, char**) {
  std::vector<std::unique_ptr<shapes::Shape>> shapes_list;
  shapes_list.emplace_back(std::make_unique<shapes::Square>(argc));
  std::shared_ptr<shapes::Named> named = std::make_shared<shapes::Square>(2.0);
  std::unordered_map<std::string, std::function<int(int)>> ops{{"inc", [](int x) { return x + 1; }}};
  std::set<Local> locals{{1}, {2}};
  Matrix<float, 3> m; m(1, 1) = 2; auto m2 = m + m;
  shapes::Diamond d; d.f();
  std::vector<int> v{5, 3, 9, argc};
  tls_values.push_back(argc);
  registry["a"].push_back({1, 2.0});
  int arr[4] = {1, 2, 3, 4}; const char s[8] = "abcdefg";
  takes_array(arr, &s);
  takes_member(&shapes::Base::b, &shapes::Base::f);
  takes_fn([&](int a, const std::string& b) { v.push_back(a + (int)b.size()); });
  noexcept_ptr([]() noexcept {});
  std::tuple<int, std::string, double> t{1, "two", 3.0};
  std::cout << join(1, "two", 3.0) << apply_twice([](int a) { return a * 2; }, 4) << size_of(v)
            << work(v, 3) << (bool)m2 << m2.convert<int>() << named->label() << shapes_list[0]->area()
            << std::get<1>(t) << ops["inc"](1) << locals.size() << sum_all({1, 2, 3}) << (pick(1) != nullptr) << cached_name(argc) << std::endl;
  return 0;
}
