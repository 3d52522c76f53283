// SpliceRelay (internal): moves exactly `length` bytes from one stream socket to another through a kernel
// pipe with splice(2), so a large proxied body is never copied through the server's memory (a 100 MB
// download through the server ran at about half the direct rate with a read/write relay on two cores: the
// server's copies and wake-ups competed with envd and the client for the CPU).
//
// Both sockets are switched to non-blocking mode; the relay waits for readiness on them with async_wait, on
// the sockets' executors. `done(ec, moved)` is called once: ec is empty when all `length` bytes went through,
// asio::error::eof when `from` ended early, else the failing call's errno. The caller keeps both sockets open
// until then (the relay holds references to them).
//
// SpliceSupported() says whether this kernel splices from a unix stream socket (probed once): where it does not,
// the caller relays the body itself.
#pragma once

#include <cstdint>
#include <functional>

#include <boost/asio.hpp>

namespace kiln::server {

using SpliceDone = std::function<void(boost::system::error_code, uint64_t moved)>;

bool SpliceSupported();

void SpliceRelay(boost::asio::local::stream_protocol::socket& from, boost::asio::ip::tcp::socket& to,
                 uint64_t length, SpliceDone done);
void SpliceRelay(boost::asio::ip::tcp::socket& from, boost::asio::local::stream_protocol::socket& to,
                 uint64_t length, SpliceDone done);

}  // namespace kiln::server
