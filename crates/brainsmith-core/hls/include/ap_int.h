// brainsmith-rs: a C++17 stand-in for the subset of the HLS arbitrary-precision integer
// types that brainsmith's generated HLS sources use, so that they compile and run with a
// plain C++ compiler (C++ simulation). A synthesis tool brings its own ap_int.h; the
// generated sources use only the standard interface: ap_uint<W> of any width with
// range(hi, lo) reads and writes of at most 64 bits, ap_int<W> and ap_uint<W> of at most
// 64 bits as integers (two's complement, wrapping to W bits on construction).
#pragma once

#include <cstdint>

namespace bs_ap {
constexpr unsigned long long mask(int bits) {
    return bits >= 64 ? ~0ull : ((1ull << bits) - 1ull);
}
}  // namespace bs_ap

template <int W>
class ap_uint;

// A slice [hi:lo] of an ap_uint, at most 64 bits wide: read as an integer, written from one.
template <int W>
class ap_range_ref {
   public:
    ap_range_ref(ap_uint<W>& v, int hi, int lo) : v_(v), hi_(hi), lo_(lo) {}
    operator unsigned long long() const { return v_.get_range(hi_, lo_); }
    template <int N>
    operator ap_uint<N>() const { return ap_uint<N>(v_.get_range(hi_, lo_)); }
    ap_range_ref& operator=(unsigned long long x) {
        v_.set_range(hi_, lo_, x);
        return *this;
    }
    unsigned long long to_uint64() const { return v_.get_range(hi_, lo_); }

   private:
    ap_uint<W>& v_;
    int hi_, lo_;
};

template <int W>
class ap_uint {
    static_assert(W >= 1, "ap_uint needs at least one bit");
    static constexpr int N = (W + 63) / 64;

   public:
    // constexpr, so that a table of constants (weights, thresholds) is initialised at
    // compile time rather than by code run before main (which compilers build slowly).
    constexpr ap_uint() : w_{} {}
    constexpr ap_uint(unsigned long long x) : w_{} {
        w_[0] = x;
        trim();
    }
    constexpr ap_uint(long long x) : w_{} {
        for (int i = 0; i < N; i++) w_[i] = x < 0 ? ~0ull : 0ull;
        w_[0] = static_cast<unsigned long long>(x);
        trim();
    }
    constexpr ap_uint(int x) : ap_uint(static_cast<long long>(x)) {}
    constexpr ap_uint(unsigned x) : ap_uint(static_cast<unsigned long long>(x)) {}
    template <int M>
    constexpr ap_uint(const ap_uint<M>& o) : w_{} {
        for (int i = 0; i < N; i++) w_[i] = i < (M + 63) / 64 ? o.word(i) : 0ull;
        trim();
    }

    // The low 64 bits.
    operator unsigned long long() const { return w_[0]; }
    unsigned long long to_uint64() const { return w_[0]; }
    constexpr unsigned long long word(int i) const { return w_[i]; }

    unsigned long long get_range(int hi, int lo) const {
        const int bits = hi - lo + 1;
        unsigned long long r = 0;
        for (int b = 0; b < bits; b++) {
            const int at = lo + b;
            r |= ((w_[at / 64] >> (at % 64)) & 1ull) << b;
        }
        return r;
    }
    void set_range(int hi, int lo, unsigned long long x) {
        const int bits = hi - lo + 1;
        for (int b = 0; b < bits; b++) {
            const int at = lo + b;
            const unsigned long long bit = (x >> b) & 1ull;
            w_[at / 64] = (w_[at / 64] & ~(1ull << (at % 64))) | (bit << (at % 64));
        }
    }
    ap_range_ref<W> range(int hi, int lo) { return ap_range_ref<W>(*this, hi, lo); }
    unsigned long long range(int hi, int lo) const { return get_range(hi, lo); }
    ap_range_ref<W> operator()(int hi, int lo) { return range(hi, lo); }
    bool operator[](int i) const { return (w_[i / 64] >> (i % 64)) & 1ull; }

   private:
    constexpr void trim() {
        if (W % 64) w_[N - 1] &= bs_ap::mask(W % 64);
    }
    unsigned long long w_[N];
};

template <int W>
class ap_int {
    static_assert(W >= 1 && W <= 64, "this stand-in's ap_int holds at most 64 bits");

   public:
    constexpr ap_int() : v_(0) {}
    constexpr ap_int(long long x) : v_(wrap(static_cast<unsigned long long>(x))) {}
    constexpr ap_int(int x) : ap_int(static_cast<long long>(x)) {}
    constexpr ap_int(unsigned long long x) : v_(wrap(x)) {}
    constexpr ap_int(unsigned x) : v_(wrap(x)) {}
    template <int M>
    ap_int(const ap_uint<M>& o) : v_(wrap(o.to_uint64())) {}
    template <int M>
    ap_int(const ap_int<M>& o) : v_(wrap(static_cast<unsigned long long>(o.to_int64()))) {}

    operator long long() const { return v_; }
    long long to_int64() const { return v_; }
    ap_int& operator+=(long long x) {
        v_ = wrap(static_cast<unsigned long long>(v_) + static_cast<unsigned long long>(x));
        return *this;
    }

   private:
    // The low W bits of x, sign-extended.
    static constexpr long long wrap(unsigned long long x) {
        if (W == 64) return static_cast<long long>(x);
        const unsigned long long low = x & bs_ap::mask(W);
        const unsigned long long sign = 1ull << (W - 1);
        return static_cast<long long>((low ^ sign) - sign);
    }
    long long v_;
};
