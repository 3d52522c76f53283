#include "kiln/trace/span.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "kiln/trace/provider.h"

namespace kiln::trace {
namespace {

// Installs a global provider with an in-memory exporter for the test's lifetime.
class SpanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    memory_ = std::make_shared<InMemoryExporter>();
    provider_ = Provider::Create({.exporters = {memory_}});
    SetGlobalProvider(provider_);
  }
  void TearDown() override { SetGlobalProvider(nullptr); }

  std::shared_ptr<InMemoryExporter> memory_;
  std::shared_ptr<Provider> provider_;
};

bool IsLowerHex(const std::string& s) {
  return s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST(IdsTest, HexLengthsLowerCaseNonZeroAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string t = NewTraceId().Hex(), s = NewSpanId().Hex();
    ASSERT_EQ(t.size(), 32u);
    ASSERT_EQ(s.size(), 16u);
    ASSERT_TRUE(IsLowerHex(t) && IsLowerHex(s)) << t << " " << s;
    ASSERT_NE(t, std::string(32, '0'));
    ASSERT_NE(s, std::string(16, '0'));
    ASSERT_TRUE(seen.insert(t).second);
    ASSERT_TRUE(seen.insert(s).second);
  }
}

TEST(TraceparentTest, FormatAndParseRoundTrip) {
  SpanContext c{NewTraceId(), NewSpanId(), true, false};
  std::string h = FormatTraceparent(c);
  ASSERT_EQ(h.size(), 55u);
  EXPECT_EQ(h, "00-" + c.trace_id.Hex() + "-" + c.span_id.Hex() + "-01");
  Result<SpanContext> p = ParseTraceparent(h);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->trace_id, c.trace_id);
  EXPECT_EQ(p->span_id, c.span_id);
  EXPECT_TRUE(p->sampled);
  EXPECT_TRUE(p->remote);
  EXPECT_EQ(FormatTraceparent(SpanContext{}), "");
}

TEST(TraceparentTest, ParsesSpecExampleAndRejectsMalformed) {
  auto p = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->trace_id.Hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(p->span_id.Hex(), "00f067aa0ba902b7");
  auto unsampled = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(unsampled.ok());
  EXPECT_FALSE(unsampled->sampled);
  EXPECT_TRUE(ParseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra").ok());
  for (const char* bad : {
           "",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
           "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
       }) {
    auto r = ParseTraceparent(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    }
  }
}

TEST_F(SpanTest, ScopedSpansNestAndRestoreCurrent) {
  EXPECT_FALSE(CurrentContext().valid());
  SpanContext outer_ctx, inner_ctx;
  {
    ScopedSpan outer("outer");
    outer_ctx = outer->context();
    EXPECT_EQ(CurrentContext().span_id, outer_ctx.span_id);
    {
      ScopedSpan inner("inner");
      inner_ctx = inner->context();
      EXPECT_EQ(CurrentContext().span_id, inner_ctx.span_id);
    }
    EXPECT_EQ(CurrentContext().span_id, outer_ctx.span_id);
  }
  EXPECT_FALSE(CurrentContext().valid());
  auto spans = memory_->spans();
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0]->name, "inner");  // children end first
  EXPECT_EQ(spans[0]->parent_span_id, outer_ctx.span_id);
  EXPECT_EQ(spans[0]->context.trace_id, outer_ctx.trace_id);
  EXPECT_FALSE(spans[1]->parent_span_id.valid());
  EXPECT_LE(spans[1]->start_unix_nano, spans[0]->start_unix_nano);
  EXPECT_GE(spans[1]->end_unix_nano, spans[0]->end_unix_nano);
}

TEST_F(SpanTest, EndingAScopedSpanEarlyMakesItsParentCurrentAgain) {
  ScopedSpan outer("outer");
  ScopedSpan first("first");
  first->End();  // e.g. genai::EndChat inside a still-open scope
  ScopedSpan second("second");
  EXPECT_EQ(second->context().trace_id, outer->context().trace_id);
  second->End();
  auto s = memory_->SpansNamed("second");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]->parent_span_id, outer->context().span_id);
}

TEST_F(SpanTest, ExplicitParentRootAndRemoteParent) {
  auto remote = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(remote.ok());
  {
    ScopedContext continued(*remote);
    ScopedSpan child("continued");
    EXPECT_EQ(child->context().trace_id.Hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    Span root = StartSpan("fresh", {.root = true});
    EXPECT_NE(root.context().trace_id, remote->trace_id);
    Span explicit_child = StartSpan("explicit", {.parent = root.context()});
    EXPECT_EQ(explicit_child.context().trace_id, root.context().trace_id);
  }
  auto cont = memory_->SpansNamed("continued");
  ASSERT_EQ(cont.size(), 1u);
  EXPECT_EQ(cont[0]->parent_span_id.Hex(), "00f067aa0ba902b7");
  auto ex = memory_->SpansNamed("explicit");
  auto fresh = memory_->SpansNamed("fresh");
  ASSERT_EQ(ex.size(), 1u);
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(ex[0]->parent_span_id, fresh[0]->context.span_id);
  EXPECT_FALSE(fresh[0]->parent_span_id.valid());
}

TEST_F(SpanTest, AttributesEventsStatusAndKind) {
  Span s = StartSpan("work", {.kind = SpanKind::kClient, .attributes = {{"start.attr", std::string("x")}}});
  s.SetAttribute("s", "text").SetAttribute("b", true).SetAttribute("i", 42).SetAttribute("d", 1.5);
  s.SetAttribute("arr", std::vector<std::string>{"a", "b"});
  s.SetAttribute("i", int64_t{7});  // replaces
  s.AddEvent("checkpoint", {{"n", int64_t{1}}});
  s.RecordError(Unavailable("collector down"));
  s.End();
  s.SetAttribute("after", 1);  // ignored after End
  s.End();                     // idempotent
  auto spans = memory_->spans();
  ASSERT_EQ(spans.size(), 1u);
  const SpanData& d = *spans[0];
  EXPECT_EQ(d.kind, SpanKind::kClient);
  EXPECT_EQ(std::get<std::string>(*d.Find("s")), "text");
  EXPECT_EQ(std::get<bool>(*d.Find("b")), true);
  EXPECT_EQ(std::get<int64_t>(*d.Find("i")), 7);
  EXPECT_EQ(std::get<double>(*d.Find("d")), 1.5);
  EXPECT_EQ(std::get<std::vector<std::string>>(*d.Find("arr")).size(), 2u);
  EXPECT_NE(d.Find("start.attr"), nullptr);
  EXPECT_EQ(d.Find("after"), nullptr);
  EXPECT_EQ(d.attributes.size(), 7u);  // start.attr s b i d arr error.type
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].name, "checkpoint");
  EXPECT_EQ(d.status_code, StatusCode::kError);
  EXPECT_EQ(d.status_message, "collector down");
  EXPECT_EQ(std::get<std::string>(*d.Find("error.type")), "unavailable");
  EXPECT_GE(d.end_unix_nano, d.start_unix_nano);
}

TEST_F(SpanTest, OkStatusIsFinalAndMovedSpansEndOnce) {
  Span a = StartSpan("a");
  a.SetStatus(StatusCode::kOk).SetStatus(StatusCode::kError, "late");
  Span b = std::move(a);
  EXPECT_FALSE(a.recording());
  b.End();
  auto spans = memory_->spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0]->status_code, StatusCode::kOk);
  EXPECT_EQ(spans[0]->status_message, "");
}

TEST_F(SpanTest, CurrentSpanIsPerThread) {
  ScopedSpan outer("main-thread");
  SpanContext parent = outer->context();
  SpanContext seen_in_thread;
  std::thread t([&] {
    seen_in_thread = CurrentContext();
    Span child = StartSpan("worker", {.parent = parent});
  });
  t.join();
  EXPECT_FALSE(seen_in_thread.valid());
  auto w = memory_->SpansNamed("worker");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0]->parent_span_id, parent.span_id);
}

TEST(DisabledTest, NonRecordingSpansPropagateParentAndCostNothing) {
  SetGlobalProvider(nullptr);
  auto remote = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(remote.ok());
  ScopedSpan s("disabled", {.parent = *remote});
  EXPECT_FALSE(s->recording());
  EXPECT_FALSE(s->captures_content());
  s->SetAttribute("k", 1).AddEvent("e").RecordError(Internal("x"));
  EXPECT_EQ(s->traceparent(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  Span none = StartSpan("nothing", {.root = true});
  EXPECT_EQ(none.traceparent(), "");
  EXPECT_EQ(GlobalProvider()->stats().spans_exported, 0u);
}

TEST(ProviderTest, SpansEndedAfterShutdownAreCountedAsDropped) {
  auto memory = std::make_shared<InMemoryExporter>();
  auto provider = Provider::Create({.exporters = {memory}});
  Tracer tracer = provider->GetTracer("test-scope", "1.2.3");
  Span before = tracer.StartSpan("before");
  Span open = tracer.StartSpan("open");
  before.End();
  EXPECT_TRUE(provider->Shutdown(std::chrono::milliseconds(100)).ok());
  open.End();
  EXPECT_FALSE(tracer.StartSpan("after").recording());
  ExporterStats st = provider->stats();
  EXPECT_EQ(st.spans_exported, 1u);
  EXPECT_EQ(st.spans_dropped, 1u);
  ASSERT_EQ(memory->spans().size(), 1u);
  EXPECT_EQ(memory->spans()[0]->origin->scope_name, "test-scope");
  EXPECT_EQ(memory->spans()[0]->origin->scope_version, "1.2.3");
}

}  // namespace
}  // namespace kiln::trace
