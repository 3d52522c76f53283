#include "kiln/server/server.h"

#include <thread>
#include <vector>

#include "mcp_http.h"
#include "session.h"
#include "upstream_pool.h"

namespace kiln::server {

// Member order matters: the io_context (and with it every pending handler, which may hold a Session) goes
// before `shared`, which sessions point into.
struct Server::Impl {
  Metrics metrics;
  UpstreamPool upstreams;
  std::unique_ptr<McpHttpService> mcp;  // goes last but control: it kills its sessions' sandboxes
  Shared shared;
  asio::thread_pool workers;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;
  int port = 0;
  bool stopped = false;

  Impl(control::Control* control, ServerOptions options)
      : shared{control, std::move(options), nullptr, &metrics, &upstreams, nullptr},
        workers(std::max(1, shared.options.worker_threads)) {
    shared.workers = &workers;
    if (shared.options.mcp_tools) {
      mcp = std::make_unique<McpHttpService>(
          control, *shared.options.mcp_tools,
          McpHttpOptions{shared.options.mcp_idle_timeout_s, 3600, shared.options.version});
      shared.mcp = mcp.get();
    }
  }

  void Accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (!acceptor.is_open()) return;
      if (!ec) {
        // Responses go out in several writes (header, then body pieces): without NODELAY, Nagle's algorithm
        // holds the later ones until the client's delayed ACK, 40 ms per exchange.
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        std::make_shared<Session>(std::move(socket), &shared)->Start();
      }
      // EMFILE and the like: keep listening; the next accept may succeed once connections close.
      Accept();
    });
  }
};

Result<std::unique_ptr<Server>> Server::Start(control::Control* control, ServerOptions options) {
  beast::error_code ec;
  auto address = asio::ip::make_address(options.host, ec);
  if (ec) return InvalidArgument("listen address '" + options.host + "': " + ec.message());
  if (options.port < 0 || options.port > 65535) return InvalidArgument("listen port: must be 0..65535");
  auto impl = std::make_unique<Impl>(control, std::move(options));
  tcp::endpoint endpoint(address, static_cast<uint16_t>(impl->shared.options.port));
  std::string where = impl->shared.options.host + ":" + std::to_string(impl->shared.options.port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Unavailable("listen on " + where + ": " + ec.message());
  impl->port = impl->acceptor.local_endpoint().port();
  impl->Accept();
  for (int i = 0; i < std::max(1, impl->shared.options.io_threads); ++i)
    impl->threads.emplace_back([ioc = &impl->ioc] { ioc->run(); });
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  Stop();
}

int Server::port() const {
  return impl_->port;
}

void Server::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  asio::post(impl_->ioc, [impl = impl_.get()] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
  });
  // Workers finish the calls under way (a create completes and is registered) before the loop stops.
  impl_->workers.join();
  impl_->ioc.stop();
  for (std::thread& t : impl_->threads) t.join();
}

}  // namespace kiln::server
