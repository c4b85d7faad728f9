package benchfleet

import "path/filepath"

// Policies are the five ValidatingAdmissionPolicies (with bindings and a
// param) the bench sends to every cluster to measure render's policy gate.
// The bench fleet's objects satisfy them all: the gate evaluates everything
// and denies nothing.
const Policies = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: replica-limit}
spec:
  matchConstraints:
    resourceRules: [{apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments]}]
  validations:
  - expression: "!has(object.spec.replicas) || object.spec.replicas <= 10"
    messageExpression: "'replicas must be at most 10, not ' + string(object.spec.replicas)"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: pinned-images}
spec:
  matchConstraints:
    resourceRules: [{apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments]}]
  variables:
  - name: images
    expression: "object.spec.template.spec.containers.map(c, c.image)"
  validations:
  - expression: "variables.images.all(i, !i.endsWith(':latest') && i.contains(':'))"
    message: "container images must be pinned"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: name-label}
spec:
  matchConstraints:
    resourceRules: [{apiGroups: ["", apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments, services]}]
  validations:
  - expression: "has(object.metadata.labels) && 'app.kubernetes.io/name' in object.metadata.labels"
    message: "the app.kubernetes.io/name label is required"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: no-load-balancers}
spec:
  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [services]}]
  matchConditions:
  - name: has-type
    expression: "has(object.spec.type)"
  validations:
  - expression: "object.spec.type != 'LoadBalancer'"
    message: "LoadBalancer Services are not allowed"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: configmap-size}
spec:
  paramKind: {apiVersion: v1, kind: ConfigMap}
  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [configmaps]}]
  matchConditions:
  - name: not-the-param
    expression: "object.metadata.name != 'policy-limits'"
  validations:
  - expression: "!has(object.data) || object.data.size() <= int(params.data.maxKeys)"
    messageExpression: "'at most ' + params.data.maxKeys + ' keys'"
---
apiVersion: v1
kind: ConfigMap
metadata: {name: policy-limits, namespace: kube-system}
data: {maxKeys: "20"}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: replica-limit}
spec: {policyName: replica-limit, validationActions: [Deny]}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: pinned-images}
spec: {policyName: pinned-images, validationActions: [Deny]}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: name-label}
spec:
  policyName: name-label
  validationActions: [Warn]
  matchResources:
    namespaceSelector:
      matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system]}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: no-load-balancers}
spec: {policyName: no-load-balancers, validationActions: [Deny]}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: configmap-size}
spec:
  policyName: configmap-size
  validationActions: [Deny]
  paramRef: {name: policy-limits, namespace: kube-system, parameterNotFoundAction: Deny}
`

// WritePolicies adds to the fleet in dir an ApplicationSet sending
// Policies (policies/) to every cluster.
func WritePolicies(dir string) error {
	if err := write(filepath.Join(dir, "policies", "policies.yaml"), Policies); err != nil {
		return err
	}
	return write(filepath.Join(dir, "applicationsets", "policies.yaml"), `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: policies}
spec:
  generators:
  - clusters: {}
  template:
    metadata: {name: "policies-{{name}}"}
    spec:
      project: default
      source: {repoURL: https://git.example.com/fleet.git, targetRevision: main, path: policies}
      destination: {server: "{{server}}", namespace: kube-system}
`)
}
