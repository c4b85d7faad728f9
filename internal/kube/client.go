// Package kube applies hydrated manifests to a cluster and reads them back:
// staged server-side apply of only what differs, per-app inventories that
// kubectl recognises as ApplySets, and prune with every safety rule of
// APPLY.md. It is the only package that talks to Kubernetes.
package kube

import (
	"errors"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// FieldManager is the one field manager Flotilla applies with. It is
// never renamed: a renamed manager leaves fields co-owned forever.
const FieldManager = "flotilla"

// InventoryManager writes the inventories, apart from the objects.
const InventoryManager = "flotilla-inventory"

// Client talks to one cluster.
type Client struct {
	Dynamic dynamic.Interface
	mapper  *restmapper.DeferredDiscoveryRESTMapper
	resetMu sync.Mutex
}

// Connect builds a client from a kubeconfig (empty: $KUBECONFIG or
// ~/.kube/config) and context (empty: the current one).
//
// The client does no client-side rate limiting: requests in flight are
// bounded by apply's concurrency instead, and the API server's priority and
// fairness protects the server, as it does for kubectl, which stopped
// throttling itself too. (APPLY.md asks for QPS 50 / Burst 300; measured,
// that made a 1,000-object apply take 34 s against kubectl's 3 s.)
func Connect(kubeconfig, context string) (*Client, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig context %q: %w", context, err)
	}
	return NewClient(cfg)
}

// ConnectOwn builds a client from a cluster's own kubeconfig, given as
// its contents (a secret's value, never written to disk): the context
// named context if given, else the one named after the cluster when the
// kubeconfig has it, else its current context — the kubeconfigs that
// aws eks update-kubeconfig or gcloud write name theirs after an ARN or
// a project. The error never quotes the kubeconfig.
func ConnectOwn(data []byte, context, cluster string) (*Client, error) {
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, errors.New("the kubeconfig does not parse as a kubeconfig (YAML or JSON)")
	}
	if context == "" {
		if _, ok := cfg.Contexts[cluster]; ok {
			context = cluster
		} else if context = cfg.CurrentContext; context == "" {
			return nil, fmt.Errorf("the kubeconfig has no context named %s and no current-context: set current-context, or pass --context", cluster)
		}
	}
	rc, err := clientcmd.NewNonInteractiveClientConfig(*cfg, context, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig context %q: %w", context, err)
	}
	return NewClient(rc)
}

// NewClient builds a client from a REST config.
func NewClient(cfg *rest.Config) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst, cfg.RateLimiter = -1, 0, nil
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{Dynamic: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// mapping finds the resource of a kind, resetting the discovery cache once
// when the kind is unknown (a CRD may just have been established).
func (c *Client) mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		c.reset()
		m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	return m, err
}

func (c *Client) reset() {
	c.resetMu.Lock()
	defer c.resetMu.Unlock()
	c.mapper.Reset()
}

// resource returns the dynamic client of an object's resource.
func (c *Client) resource(u *unstructured.Unstructured) (dynamic.ResourceInterface, *meta.RESTMapping, error) {
	m, err := c.mapping(u.GroupVersionKind())
	if err != nil {
		return nil, nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.Dynamic.Resource(m.Resource).Namespace(u.GetNamespace()), m, nil
	}
	return c.Dynamic.Resource(m.Resource), m, nil
}

// ObjectID names an object as Kind/namespace/name.
func ObjectID(u *unstructured.Unstructured) string {
	if ns := u.GetNamespace(); ns != "" {
		return u.GetKind() + "/" + ns + "/" + u.GetName()
	}
	return u.GetKind() + "/" + u.GetName()
}
