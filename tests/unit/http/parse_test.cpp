// Tests the HTTP text helpers (src/http/parse) and Request::query_param / form_param.
#include <gtest/gtest.h>

#include "http/parse.h"
#include "tether/request.h"

namespace tether::http {
namespace {

TEST(PercentDecodeTest, DecodesEscapes) {
  EXPECT_EQ(percent_decode("a%20b", false), "a b");
  EXPECT_EQ(percent_decode("%41%42%43", false), "ABC");
  EXPECT_EQ(percent_decode("%e2%82%ac", false), "\xe2\x82\xac");
  EXPECT_EQ(percent_decode("%E2%82%AC", false), "\xe2\x82\xac");
  EXPECT_EQ(percent_decode("%00", false), std::string(1, '\0'));
  EXPECT_EQ(percent_decode("%2541", false), "%41");  // decoded once only
  EXPECT_EQ(percent_decode("", false), "");
  EXPECT_EQ(percent_decode("plain", true), "plain");
}

TEST(PercentDecodeTest, PlusIsSpaceOnlyWhenAsked) {
  EXPECT_EQ(percent_decode("a+b", true), "a b");
  EXPECT_EQ(percent_decode("a+b", false), "a+b");
  EXPECT_EQ(percent_decode("a%2Bb", true), "a+b");  // an escaped plus stays a plus
  EXPECT_EQ(percent_decode("++", true), "  ");
}

TEST(PercentDecodeTest, InvalidEscapesAreKept) {
  EXPECT_EQ(percent_decode("%", false), "%");
  EXPECT_EQ(percent_decode("a%", false), "a%");
  EXPECT_EQ(percent_decode("a%4", false), "a%4");
  EXPECT_EQ(percent_decode("%zz", false), "%zz");
  EXPECT_EQ(percent_decode("%4g", false), "%4g");
  EXPECT_EQ(percent_decode("%g4", false), "%g4");
  EXPECT_EQ(percent_decode("100%", true), "100%");
  EXPECT_EQ(percent_decode("%%41", false), "%A");
  EXPECT_EQ(percent_decode("%+1", true), "% 1");
}

TEST(FormValueTest, FindsDecodedValues) {
  EXPECT_EQ(form_value("a=1&b=2", "a"), "1");
  EXPECT_EQ(form_value("a=1&b=2", "b"), "2");
  EXPECT_EQ(form_value("q=hello+world%21", "q"), "hello world!");
  EXPECT_EQ(form_value("my+key=v", "my key"), "v");     // keys are decoded too
  EXPECT_EQ(form_value("k%3D1=v", "k=1"), "v");
  EXPECT_EQ(form_value("a=x=y", "a"), "x=y");            // only the first '=' splits
  EXPECT_EQ(form_value("a=1&&b=2", "b"), "2");
}

TEST(FormValueTest, FirstValueWins) {
  EXPECT_EQ(form_value("a=1&a=2", "a"), "1");
  EXPECT_EQ(form_value("a&a=2", "a"), "");
}

TEST(FormValueTest, MissingOrValuelessIsEmpty) {
  EXPECT_EQ(form_value("a=1&b=2", "c"), "");
  EXPECT_EQ(form_value("", "a"), "");
  EXPECT_EQ(form_value("a", "a"), "");
  EXPECT_EQ(form_value("a=", "a"), "");
  EXPECT_EQ(form_value("ab=1", "a"), "");   // no prefix matches
  EXPECT_EQ(form_value("A=1", "a"), "");    // case matters
}

TEST(ParseCookiesTest, SplitsAndTrims) {
  auto c = parse_cookies("a=1; b=2;c=3 ;  d = 4 ");
  EXPECT_EQ(c.size(), 4u);
  EXPECT_EQ(c["a"], "1");
  EXPECT_EQ(c["b"], "2");
  EXPECT_EQ(c["c"], "3");
  EXPECT_EQ(c["d"], "4");
}

TEST(ParseCookiesTest, QuotedValuesAreUnquoted) {
  auto c = parse_cookies(R"(a="x y"; b=""; c="; d="unbalanced)");
  EXPECT_EQ(c["a"], "x y");
  EXPECT_EQ(c["b"], "");
  EXPECT_EQ(c["c"], "\"");
  EXPECT_EQ(c["d"], "\"unbalanced");
}

TEST(ParseCookiesTest, FirstOccurrenceWins) {
  auto c = parse_cookies("tether_sid=specific; other=1; tether_sid=general");
  EXPECT_EQ(c["tether_sid"], "specific");
  EXPECT_EQ(c.size(), 2u);
}

TEST(ParseCookiesTest, MalformedPairsAreSkipped) {
  auto c = parse_cookies("novalue; =orphan; ; a=1;;  ;b=2=3; e=");
  EXPECT_EQ(c.count("novalue"), 0u);
  EXPECT_EQ(c.count(""), 0u);
  EXPECT_EQ(c["a"], "1");
  EXPECT_EQ(c["b"], "2=3");
  ASSERT_EQ(c.count("e"), 1u);
  EXPECT_EQ(c["e"], "");
  EXPECT_EQ(c.size(), 3u);
  EXPECT_TRUE(parse_cookies("").empty());
  EXPECT_TRUE(parse_cookies(";;;").empty());
}

TEST(HeaderNameTest, NormalisesFastCgiParams) {
  EXPECT_EQ(header_name_from_param("HTTP_X_FORWARDED_FOR"), "x-forwarded-for");
  EXPECT_EQ(header_name_from_param("HTTP_HOST"), "host");
  EXPECT_EQ(header_name_from_param("CONTENT_TYPE"), "content-type");
  EXPECT_EQ(header_name_from_param("HTTP_"), "");
  EXPECT_EQ(header_name_from_param("XHTTP_A"), "xhttp-a");  // only a leading HTTP_ is removed
}

TEST(HtmlEscapeTest, EscapesTheFiveSpecials) {
  EXPECT_EQ(html_escape(R"(<a href="x?a=1&b='2'">)"), "&lt;a href=&quot;x?a=1&amp;b=&#39;2&#39;&quot;&gt;");
  EXPECT_EQ(html_escape("plain text é"), "plain text é");
  EXPECT_EQ(html_escape(""), "");
  EXPECT_EQ(html_escape("&amp;"), "&amp;amp;");  // not idempotent: escape once
}

TEST(RequestParamTest, QueryParamReadsTheQueryString) {
  Request req;
  req.query = "name=J%C3%B6rg+M&id=7&id=8&flag";
  req.body = "name=body";
  EXPECT_EQ(req.query_param("name"), "J\xc3\xb6rg M");
  EXPECT_EQ(req.query_param("id"), "7");
  EXPECT_EQ(req.query_param("flag"), "");
  EXPECT_EQ(req.query_param("missing"), "");
}

TEST(RequestParamTest, FormParamReadsTheBody) {
  Request req;
  req.query = "title=from+query";
  req.body = "title=Hello%2C+world&text=a%0D%0Ab";
  EXPECT_EQ(req.form_param("title"), "Hello, world");
  EXPECT_EQ(req.form_param("text"), "a\r\nb");
  EXPECT_EQ(req.form_param("missing"), "");
  EXPECT_EQ(req.query_param("title"), "from query");
}

TEST(RequestParamTest, HeaderAndCookieAccessors) {
  Request req;
  req.headers["content-type"] = "text/plain";
  req.cookies = parse_cookies("tether_sid=abc; theme=dark");
  EXPECT_EQ(req.header("content-type"), "text/plain");
  EXPECT_EQ(req.header("x-missing"), "");
  EXPECT_EQ(req.cookie("tether_sid"), "abc");
  EXPECT_EQ(req.cookie("theme"), "dark");
  EXPECT_EQ(req.cookie("nope"), "");
}

}  // namespace
}  // namespace tether::http
