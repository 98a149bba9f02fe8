package broker

// ApiVersions: v0-4
//
// Behaviour:
// * Advertises exactly the registered handlers and their version ranges
//   (in cluster mode those of clusterAPIs, clustermeta.go).
// * An unsupported request version (KIP-511) is answered with
//   UNSUPPORTED_VERSION in v0 form, listing the supported versions, so the
//   client can retry with one of them. A supported version whose body does
//   not parse closes the connection, as in Kafka (conn.go).
// * v3+: a client software name or version not matching Kafka's pattern
//   ([a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?) gets INVALID_REQUEST.
// * v3+ lists the supported and finalized features (KIP-584): the one a
//   client acts on is transaction.version, finalized at 2, so Kafka 4
//   clients use transaction protocol version 2 (KIP-890); in cluster
//   mode at 1 (clustertxns.go).
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

func (b *Broker) apiVersionsResponse() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	for _, k := range b.servedKeys() {
		h, _ := b.handler(k)
		v := kmsg.NewApiVersionsResponseApiKey()
		v.ApiKey, v.MinVersion, v.MaxVersion = k, h.min, h.max
		resp.ApiKeys = append(resp.ApiKeys, v)
	}
	tv := int16(transactionVersion)
	if b.cl != nil {
		tv = 1 // cluster mode: no partition-leader verification (clustertxns.go)
	}
	sf := kmsg.NewApiVersionsResponseSupportedFeature()
	sf.Name, sf.MinVersion, sf.MaxVersion = "transaction.version", 0, tv
	resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
	ff := kmsg.NewApiVersionsResponseFinalizedFeature()
	ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = "transaction.version", tv, tv
	resp.FinalizedFeatures = append(resp.FinalizedFeatures, ff)
	resp.FinalizedFeaturesEpoch = 1 // features never change
	return resp
}

func handleAPIVersions(b *Broker, _ *request, req *kmsg.ApiVersionsRequest) kmsg.Response {
	if req.Version >= 3 && (!validSoftwareField(req.ClientSoftwareName) || !validSoftwareField(req.ClientSoftwareVersion)) {
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	return b.apiVersionsResponse()
}

// validSoftwareField reports whether s matches Kafka's
// [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])? for the v3+ client software
// name and version.
func validSoftwareField(s string) bool {
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	if s == "" || !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if !alnum(s[i]) && s[i] != '-' && s[i] != '.' {
			return false
		}
	}
	return true
}

// unsupportedAPIVersions answers in v0 whatever the request's version was.
func (b *Broker) unsupportedAPIVersions() kmsg.Response {
	resp := b.apiVersionsResponse()
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	return &v0Response{resp}
}

// v0Response pins a response to version 0 regardless of the request.
type v0Response struct{ *kmsg.ApiVersionsResponse }

func (r *v0Response) SetVersion(int16)  { r.ApiVersionsResponse.SetVersion(0) }
func (r *v0Response) IsFlexible() bool  { return false }
func (r *v0Response) GetVersion() int16 { return 0 }
