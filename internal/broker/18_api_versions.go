package broker

// ApiVersions: v0-4
//
// Behaviour:
// * Advertises exactly the registered handlers and their version ranges.
// * An unsupported request version (or a body this broker cannot parse,
//   KIP-511) is answered with UNSUPPORTED_VERSION in v0 form, listing the
//   supported versions, so the client can retry with one of them.
// * v3+ lists the supported and finalized features (KIP-584): the one a
//   client acts on is transaction.version, finalized at 2, so Kafka 4
//   clients use transaction protocol version 2 (KIP-890).
// * The response header is always v0, also for flexible versions.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const apiVersionsKey = 18

// transactionVersion is the finalized level of the transaction.version
// feature: 2 serves KIP-890's protocol (EndTxn v5+, Produce v12+ and
// TxnOffsetCommit v5+ act on it); clients that do not know it use
// version 1, which stays served.
const transactionVersion = 2

func init() { register(apiVersionsKey, 0, 4, handleAPIVersions) }

func apiVersionsResponse() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	for _, k := range sortedKeys() {
		h := handlers[k]
		v := kmsg.NewApiVersionsResponseApiKey()
		v.ApiKey, v.MinVersion, v.MaxVersion = k, h.min, h.max
		resp.ApiKeys = append(resp.ApiKeys, v)
	}
	sf := kmsg.NewApiVersionsResponseSupportedFeature()
	sf.Name, sf.MinVersion, sf.MaxVersion = "transaction.version", 0, transactionVersion
	resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
	ff := kmsg.NewApiVersionsResponseFinalizedFeature()
	ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = "transaction.version", transactionVersion, transactionVersion
	resp.FinalizedFeatures = append(resp.FinalizedFeatures, ff)
	resp.FinalizedFeaturesEpoch = 1 // features never change
	return resp
}

func handleAPIVersions(_ *Broker, _ *request, _ *kmsg.ApiVersionsRequest) kmsg.Response {
	return apiVersionsResponse()
}

// unsupportedAPIVersions answers in v0 whatever the request's version was.
func unsupportedAPIVersions() kmsg.Response {
	resp := apiVersionsResponse()
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	return &v0Response{resp}
}

// v0Response pins a response to version 0 regardless of the request.
type v0Response struct{ *kmsg.ApiVersionsResponse }

func (r *v0Response) SetVersion(int16)  { r.ApiVersionsResponse.SetVersion(0) }
func (r *v0Response) IsFlexible() bool  { return false }
func (r *v0Response) GetVersion() int16 { return 0 }
