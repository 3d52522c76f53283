// Checks shared by control's tests.
#pragma once

#include <string>

#include <gtest/gtest.h>

#include "kiln/control/control.h"
#include "kiln/protocol/http_client.h"

namespace kiln::control {

// The sandbox's default Python context answers `6*7` with 42 through its envd's POST /execute.
inline void ExpectDefaultContextComputes(Control& control, const std::string& sandbox_id) {
  auto route = control.Resolve(sandbox_id);
  ASSERT_TRUE(route.ok()) << route.status().ToString();
  http::Headers headers;
  headers.Set("X-Access-Token", route->access_token);
  headers.Set("Content-Type", "application/json");
  auto out =
      http::Client::Unix(route->socket_path).Do("POST", "/execute", headers, R"({"code":"6*7"})", 60'000);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->status, 200);
  EXPECT_NE(out->body.find("\"42\""), std::string::npos) << out->body;
}

}  // namespace kiln::control
