package console

// The security page: SCRAM users (DescribeUserScramCredentials,
// AlterUserScramCredentials), ACLs (DescribeAcls, CreateAcls, DeleteAcls)
// and client quotas (DescribeClientQuotas, AlterClientQuotas). Kafka
// decides who may: Describe on the cluster to read, Alter on the cluster to
// change (CLUSTER_AUTHORIZATION_FAILED otherwise, a 403 page). A SCRAM
// password is salted and hashed here, as Kafka's admin client does, and
// never sent or kept in clear text.

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// minScramIterations is Kafka's minimum (ScramMechanism.minIterations).
const (
	minScramIterations = 4096
	maxScramIterations = 16384 // Kafka's DescribeUserScramCredentials maximum
)

type scramUser struct {
	Name       string
	Mechanism  string
	Iterations int32
}

type aclRow struct {
	ResourceType, ResourceName, Pattern, Principal, Host, Operation, Permission string
}

type quotaRow struct {
	Entity string // "user=alice, client-id=<default>"
	Key    string
	Value  string
}

type securityData struct {
	Users     []scramUser
	UsersErr  string
	ACLs      []aclRow
	ACLsErr   string
	Quotas    []quotaRow
	QuotasErr string
	Form      formData
}

// formData keeps a failed form's values (the password never).
type formData map[string]string

func (u formData) Get(k string) string { return u[k] }

func (c *Console) security(w http.ResponseWriter, r *http.Request) {
	c.securityPage(w, r, http.StatusOK, "", nil)
}

func (c *Console) securityPage(w http.ResponseWriter, r *http.Request, code int, errMsg string, form formData) {
	ctx := r.Context()
	d := securityData{Form: form}
	// ACLs first: without Describe on the cluster the page is refused.
	acls, err := call[*kmsg.DescribeACLsResponse](ctx, c.be, anyACLFilter())
	if err != nil {
		c.fail(w, r, status(err), err)
		return
	}
	if err := codeErr(acls.ErrorCode, acls.ErrorMessage); err != nil {
		if status(err) == http.StatusForbidden {
			c.fail(w, r, http.StatusForbidden, fmt.Errorf("the security page needs Describe on the cluster: %w", err))
			return
		}
		d.ACLsErr = err.Error()
	}
	for _, res := range acls.Resources {
		for _, a := range res.ACLs {
			d.ACLs = append(d.ACLs, aclRow{ResourceType: res.ResourceType.String(), ResourceName: res.ResourceName, Pattern: res.ResourcePatternType.String(),
				Principal: a.Principal, Host: a.Host, Operation: a.Operation.String(), Permission: a.PermissionType.String()})
		}
	}
	sort.Slice(d.ACLs, func(i, j int) bool {
		a, b := d.ACLs[i], d.ACLs[j]
		return fmt.Sprint(a) < fmt.Sprint(b)
	})
	if users, err := call[*kmsg.DescribeUserSCRAMCredentialsResponse](ctx, c.be, kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()); err != nil {
		d.UsersErr = err.Error()
	} else if err := codeErr(users.ErrorCode, users.ErrorMessage); err != nil {
		d.UsersErr = err.Error()
	} else {
		for _, u := range users.Results {
			if codeErr(u.ErrorCode, nil) != nil {
				continue
			}
			for _, ci := range u.CredentialInfos {
				d.Users = append(d.Users, scramUser{Name: u.User, Mechanism: mechanismName(ci.Mechanism), Iterations: ci.Iterations})
			}
		}
		sort.Slice(d.Users, func(i, j int) bool {
			return d.Users[i].Name < d.Users[j].Name || d.Users[i].Name == d.Users[j].Name && d.Users[i].Mechanism < d.Users[j].Mechanism
		})
	}
	qreq := kmsg.NewPtrDescribeClientQuotasRequest()
	if qs, err := call[*kmsg.DescribeClientQuotasResponse](ctx, c.be, qreq); err != nil {
		d.QuotasErr = err.Error()
	} else if err := codeErr(qs.ErrorCode, qs.ErrorMessage); err != nil {
		d.QuotasErr = err.Error()
	} else {
		for _, e := range qs.Entries {
			var parts []string
			for _, en := range e.Entity {
				name := "<default>"
				if en.Name != nil {
					name = *en.Name
				}
				parts = append(parts, en.Type+"="+name)
			}
			for _, v := range e.Values {
				d.Quotas = append(d.Quotas, quotaRow{Entity: strings.Join(parts, ", "), Key: v.Key, Value: strconv.FormatFloat(v.Value, 'f', -1, 64)})
			}
		}
		sort.Slice(d.Quotas, func(i, j int) bool {
			return d.Quotas[i].Entity < d.Quotas[j].Entity || d.Quotas[i].Entity == d.Quotas[j].Entity && d.Quotas[i].Key < d.Quotas[j].Key
		})
	}
	c.render(w, r, code, "security", page{Title: "Security", Nav: "security", Error: errMsg, Data: d})
}

func anyACLFilter() *kmsg.DescribeACLsRequest {
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType = kmsg.ACLResourceTypeAny
	req.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
	req.Operation = kmsg.ACLOperationAny
	req.PermissionType = kmsg.ACLPermissionTypeAny
	return req
}

func mechanismName(m int8) string {
	switch m {
	case 1:
		return "SCRAM-SHA-256"
	case 2:
		return "SCRAM-SHA-512"
	}
	return fmt.Sprintf("unknown (%d)", m)
}

// formValues is the posted form as formData, for re-showing it.
func formValues(r *http.Request, keys ...string) formData {
	u := formData{}
	for _, k := range keys {
		u[k] = r.PostFormValue(k)
	}
	return u
}

// securityAction runs fn for a POST of the security page and answers it.
func (c *Console) securityAction(w http.ResponseWriter, r *http.Request, what string, keys []string, fn func() (string, error)) {
	if err := r.ParseForm(); err != nil {
		c.securityPage(w, r, http.StatusBadRequest, "malformed form: "+err.Error(), nil)
		return
	}
	notice, err := fn()
	if err != nil {
		form := formValues(r, keys...)
		delete(form, "password")
		c.securityPage(w, r, status(err), fmt.Sprintf("%s: %v", what, err), form)
		return
	}
	redirect(w, r, "/security", notice)
}

// upsertUser creates a SCRAM user or changes its password.
func (c *Console) upsertUser(w http.ResponseWriter, r *http.Request) {
	c.securityAction(w, r, "User not saved", []string{"user", "mechanism", "iterations"}, func() (string, error) {
		user, mech, pass := strings.TrimSpace(r.PostFormValue("user")), r.PostFormValue("mechanism"), r.PostFormValue("password")
		iters := int64(minScramIterations)
		if s := strings.TrimSpace(r.PostFormValue("iterations")); s != "" {
			var err error
			if iters, err = strconv.ParseInt(s, 10, 32); err != nil || iters < minScramIterations || iters > maxScramIterations {
				return "", badInput("iterations %q is not a number from %d to %d", s, minScramIterations, maxScramIterations)
			}
		}
		if user == "" || pass == "" {
			return "", badInput("a user name and a password are required")
		}
		var m int8
		var h func() hash.Hash
		switch mech {
		case "SCRAM-SHA-256":
			m, h = 1, sha256.New
		case "SCRAM-SHA-512":
			m, h = 2, sha512.New
		default:
			return "", badInput("mechanism %q is neither SCRAM-SHA-256 nor SCRAM-SHA-512", mech)
		}
		salt := make([]byte, 32)
		rand.Read(salt)
		salted, err := pbkdf2.Key(h, pass, salt, int(iters), h().Size())
		if err != nil {
			return "", badInput("password: %v", err)
		}
		req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
		up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = user, m, int32(iters), salt, salted
		req.Upsertions = append(req.Upsertions, up)
		return fmt.Sprintf("Saved %s credentials of %s.", mech, user), c.alterScram(r, req)
	})
}

// deleteUser deletes one mechanism's credentials of a user.
func (c *Console) deleteUser(w http.ResponseWriter, r *http.Request) {
	c.securityAction(w, r, "User not deleted", nil, func() (string, error) {
		user, mech := r.PostFormValue("user"), r.PostFormValue("mechanism")
		req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
		del := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
		del.Name = user
		switch mech {
		case "SCRAM-SHA-256":
			del.Mechanism = 1
		case "SCRAM-SHA-512":
			del.Mechanism = 2
		default:
			return "", badInput("mechanism %q is neither SCRAM-SHA-256 nor SCRAM-SHA-512", mech)
		}
		req.Deletions = append(req.Deletions, del)
		return fmt.Sprintf("Deleted the %s credentials of %s.", mech, user), c.alterScram(r, req)
	})
}

func (c *Console) alterScram(r *http.Request, req *kmsg.AlterUserSCRAMCredentialsRequest) error {
	resp, err := call[*kmsg.AlterUserSCRAMCredentialsResponse](r.Context(), c.be, req)
	if err != nil {
		return err
	}
	for _, res := range resp.Results {
		if err := codeErr(res.ErrorCode, res.ErrorMessage); err != nil {
			return fmt.Errorf("user %q: %w", res.User, err)
		}
	}
	return nil
}

// aclForm reads an ACL binding from the form, Kafka's names (TOPIC,
// LITERAL, READ, ALLOW, ...) in any case.
func aclForm(r *http.Request) (kmsg.CreateACLsRequestCreation, error) {
	a := kmsg.NewCreateACLsRequestCreation()
	var err error
	get := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	if a.ResourceType, err = kmsg.ParseACLResourceType(get("resource_type")); err != nil || a.ResourceType <= kmsg.ACLResourceTypeAny {
		return a, badInput("resource type %q is not one of TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID, DELEGATION_TOKEN, USER", get("resource_type"))
	}
	a.ResourceName = get("resource_name")
	if a.ResourceType == kmsg.ACLResourceTypeCluster && a.ResourceName == "" {
		a.ResourceName = "kafka-cluster"
	}
	if a.ResourceName == "" {
		return a, badInput("a resource name is required (* for all)")
	}
	pattern := get("pattern")
	if pattern == "" {
		pattern = "LITERAL"
	}
	if a.ResourcePatternType, err = kmsg.ParseACLResourcePatternType(pattern); err != nil || (a.ResourcePatternType != kmsg.ACLResourcePatternTypeLiteral && a.ResourcePatternType != kmsg.ACLResourcePatternTypePrefixed) {
		return a, badInput("pattern %q is neither LITERAL nor PREFIXED", pattern)
	}
	if a.Principal = get("principal"); !strings.Contains(a.Principal, ":") {
		return a, badInput("principal %q is not TYPE:NAME (User:alice, User:*)", a.Principal)
	}
	if a.Host = get("host"); a.Host == "" {
		a.Host = "*"
	}
	if a.Operation, err = kmsg.ParseACLOperation(get("operation")); err != nil || a.Operation <= kmsg.ACLOperationAny {
		return a, badInput("operation %q is not one of Kafka's ACL operations (ALL, READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, ...)", get("operation"))
	}
	if a.PermissionType, err = kmsg.ParseACLPermissionType(get("permission")); err != nil || a.PermissionType <= kmsg.ACLPermissionTypeAny {
		return a, badInput("permission %q is neither ALLOW nor DENY", get("permission"))
	}
	return a, nil
}

var aclKeys = []string{"resource_type", "resource_name", "pattern", "principal", "host", "operation", "permission"}

func (c *Console) createACL(w http.ResponseWriter, r *http.Request) {
	c.securityAction(w, r, "ACL not created", aclKeys, func() (string, error) {
		a, err := aclForm(r)
		if err != nil {
			return "", err
		}
		req := kmsg.NewPtrCreateACLsRequest()
		req.Creations = append(req.Creations, a)
		resp, err := call[*kmsg.CreateACLsResponse](r.Context(), c.be, req)
		if err != nil {
			return "", err
		}
		for _, res := range resp.Results {
			if err := codeErr(res.ErrorCode, res.ErrorMessage); err != nil {
				return "", err
			}
		}
		return fmt.Sprintf("Created the ACL: %s %s %s on %s %s.", a.PermissionType, a.Principal, a.Operation, a.ResourceType, a.ResourceName), nil
	})
}

// deleteACL deletes exactly the binding of the form (a row's button).
func (c *Console) deleteACL(w http.ResponseWriter, r *http.Request) {
	c.securityAction(w, r, "ACL not deleted", nil, func() (string, error) {
		a, err := aclForm(r)
		if err != nil {
			return "", err
		}
		req := kmsg.NewPtrDeleteACLsRequest()
		f := kmsg.NewDeleteACLsRequestFilter()
		f.ResourceType, f.ResourceName, f.ResourcePatternType = a.ResourceType, &a.ResourceName, a.ResourcePatternType
		f.Principal, f.Host, f.Operation, f.PermissionType = &a.Principal, &a.Host, a.Operation, a.PermissionType
		req.Filters = append(req.Filters, f)
		resp, err := call[*kmsg.DeleteACLsResponse](r.Context(), c.be, req)
		if err != nil {
			return "", err
		}
		n := 0
		for _, res := range resp.Results {
			if err := codeErr(res.ErrorCode, res.ErrorMessage); err != nil {
				return "", err
			}
			n += len(res.MatchingACLs)
		}
		if n == 0 {
			return "", fmt.Errorf("%w: no such ACL (deleted already?)", errNotFound)
		}
		return fmt.Sprintf("Deleted %d ACL.", n), nil
	})
}

// quotaKeys are Kafka's client quota keys.
var quotaKeys = map[string]bool{"producer_byte_rate": true, "consumer_byte_rate": true, "request_percentage": true, "controller_mutation_rate": true}

// setQuota sets (or, with an empty value, removes) one quota of an entity:
// a user, a client id, or both; an empty name is the default entity.
func (c *Console) setQuota(w http.ResponseWriter, r *http.Request) {
	c.securityAction(w, r, "Quota not set", []string{"user", "client_id", "user_default", "client_default", "key", "value"}, func() (string, error) {
		key, vs := strings.TrimSpace(r.PostFormValue("key")), strings.TrimSpace(r.PostFormValue("value"))
		if !quotaKeys[key] {
			return "", badInput("quota %q is not one of producer_byte_rate, consumer_byte_rate, request_percentage, controller_mutation_rate", key)
		}
		e := kmsg.NewAlterClientQuotasRequestEntry()
		var desc []string
		for _, k := range []struct{ typ, field, dflt string }{{"user", "user", "user_default"}, {"client-id", "client_id", "client_default"}} {
			name := strings.TrimSpace(r.PostFormValue(k.field))
			isDefault := r.PostFormValue(k.dflt) == "yes"
			if name == "" && !isDefault {
				continue
			}
			en := kmsg.NewAlterClientQuotasRequestEntryEntity()
			en.Type = k.typ
			if isDefault {
				desc = append(desc, k.typ+"=<default>")
			} else {
				en.Name = kmsg.StringPtr(name)
				desc = append(desc, k.typ+"="+name)
			}
			e.Entity = append(e.Entity, en)
		}
		if len(e.Entity) == 0 {
			return "", badInput("name a user or a client id (or tick default)")
		}
		op := kmsg.NewAlterClientQuotasRequestEntryOp()
		op.Key = key
		if vs == "" {
			op.Remove = true
		} else {
			v, err := strconv.ParseFloat(vs, 64)
			if err != nil || v <= 0 {
				return "", badInput("quota value %q is not a positive number", vs)
			}
			op.Value = v
		}
		e.Ops = append(e.Ops, op)
		req := kmsg.NewPtrAlterClientQuotasRequest()
		req.Entries = append(req.Entries, e)
		resp, err := call[*kmsg.AlterClientQuotasResponse](r.Context(), c.be, req)
		if err != nil {
			return "", err
		}
		for _, res := range resp.Entries {
			if err := codeErr(res.ErrorCode, res.ErrorMessage); err != nil {
				return "", err
			}
		}
		if op.Remove {
			return fmt.Sprintf("Removed %s of %s.", key, strings.Join(desc, ", ")), nil
		}
		return fmt.Sprintf("Set %s=%s for %s.", key, vs, strings.Join(desc, ", ")), nil
	})
}
