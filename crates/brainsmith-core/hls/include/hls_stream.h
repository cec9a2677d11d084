// brainsmith-rs: a C++ stand-in for hls::stream, for C++ simulation of generated HLS
// sources: an unbounded FIFO whose read from an empty stream stops the simulation with a
// message naming the stream (in hardware it would stall forever).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>

namespace hls {
template <class T>
class stream {
   public:
    stream() : name_("stream") {}
    explicit stream(const char* name) : name_(name) {}
    void write(const T& v) { q_.push_back(v); }
    T read() {
        if (q_.empty()) {
            std::fprintf(stderr, "C++ simulation: read from empty stream '%s'\n", name_.c_str());
            std::exit(3);
        }
        T v = q_.front();
        q_.pop_front();
        return v;
    }
    bool empty() const { return q_.empty(); }
    std::size_t size() const { return q_.size(); }
    void operator<<(const T& v) { write(v); }
    void operator>>(T& v) { v = read(); }

   private:
    std::deque<T> q_;
    std::string name_;
};
}  // namespace hls
