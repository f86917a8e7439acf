#include "lib/core/parse_errors.h"

#include <google/protobuf/descriptor.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace continuum::core {
namespace {

using grpc::experimental::InterceptionHookPoints;

// The method's descriptor, from "/pkg.Service/Method"; null if unknown.
const google::protobuf::MethodDescriptor* FindMethod(absl::string_view method) {
  if (method.empty() || method.front() != '/') return nullptr;
  std::string name = absl::StrReplaceAll(method.substr(1), {{"/", "."}});
  return google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
      name);
}

class ParseErrorInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit ParseErrorInterceptor(const char* method)
      : method_(method == nullptr ? "" : method) {
    const google::protobuf::MethodDescriptor* m = FindMethod(method_);
    single_request_ = m != nullptr && !m->client_streaming();
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (single_request_ &&
        methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      unparsable_ = true;
    }
    if (unparsable_ && methods->QueryInterceptionHookPoint(
                           InterceptionHookPoints::PRE_SEND_STATUS)) {
      methods->ModifySendStatus(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT, UnparsableRequestMessage(method_)));
    }
    methods->Proceed();
  }

 private:
  const std::string method_;
  bool single_request_ = false;
  bool unparsable_ = false;
};

class ParseErrorInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new ParseErrorInterceptor(info->method());
  }
};

}  // namespace

std::string UnparsableRequestMessage(absl::string_view method) {
  const google::protobuf::MethodDescriptor* m = FindMethod(method);
  if (m == nullptr) {
    return absl::StrCat("the request of ", method, " could not be parsed");
  }
  return absl::StrCat("the request is not a valid ",
                      m->input_type()->full_name(),
                      " (its bytes do not parse as that message)");
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewParseErrorInterceptorFactory() {
  return std::make_unique<ParseErrorInterceptorFactory>();
}

}  // namespace continuum::core
