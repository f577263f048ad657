package main

// What each function's code can do on the table and at Stripe, derived from
// the code itself, so that the IAM policy and the restricted key of a
// function (functionSpecs) can be checked to be exactly that: a new store
// call or Stripe call that a function lacks the permission for fails here,
// not in production, and a permission the code no longer needs fails too.
//
// The analysis builds the SSA form of this module's packages and walks
// everything reachable from each function's main: static calls, interface
// calls resolved against the concrete types the reachable code converts to
// interfaces (Rapid Type Analysis without its rule that every exported
// method of such a type is reachable through reflection, which would make
// every method of dynamo.Store reachable from every function), and every
// function or closure whose value reachable code takes (lambda.Start, an
// errgroup, a retried mutation call them from outside this module). It
// then reads, in the reachable code:
//   - calls of the DynamoDB client (dynamo.API or *dynamodb.Client) by
//     operation; for TransactWriteItems, the item kinds the code builds
//     (types.Put, Update, Delete, ConditionCheck); a QueryInput with an
//     IndexName is a query of the index;
//   - calls of stripe-go's resource clients (paymentintent.Client.New, …),
//     read for Get/List/Search and write otherwise; an expansion (which
//     needs read on the expanded resource) fails the test, so that a person
//     adds that permission.
// Dependencies are loaded from export data (no SSA), so a call made only by
// third-party code through an interface of ours is not seen; no such call
// reaches the table or Stripe.

import (
	"fmt"
	"go/types"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/tools/go/packages"
	"golang.org/x/tools/go/ssa"
	"golang.org/x/tools/go/ssa/ssautil"

	"github.com/cirasync/dsubilling/internal/routes"
)

const (
	modulePath    = "github.com/cirasync/dsubilling"
	dynamoPkg     = modulePath + "/internal/dynamo"
	ddbClientPkg  = "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbTypesPkg   = "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	stripeRootPkg = "github.com/stripe/stripe-go/v76"
)

// codeAccess is what one function's code can call.
type codeAccess struct {
	table      map[string]bool // IAM actions on the table
	sweepIndex bool
	stripe     map[string]StripeAccess // resource → the most it needs
	problems   []string                // what the analysis cannot map
}

var (
	analysisOnce sync.Once
	analysis     map[string]*codeAccess
	analysisErr  error
)

// analyzeFunctions runs the analysis once per test binary (about 10 s).
func analyzeFunctions(t *testing.T) map[string]*codeAccess {
	t.Helper()
	analysisOnce.Do(func() { analysis, analysisErr = analyze() })
	if analysisErr != nil {
		t.Fatal(analysisErr)
	}
	return analysis
}

func analyze() (map[string]*codeAccess, error) {
	cfg := &packages.Config{
		Mode:       packages.LoadSyntax,
		Dir:        "..",
		BuildFlags: []string{"-tags", "lambda.norpc"}, // as deployed
	}
	pkgs, err := packages.Load(cfg, "./functions/...", "./internal/...")
	if err != nil {
		return nil, err
	}
	var errs []string
	packages.Visit(pkgs, nil, func(p *packages.Package) {
		for _, e := range p.Errors {
			errs = append(errs, e.Error())
		}
	})
	if len(errs) > 0 {
		return nil, fmt.Errorf("loading the code: %s", strings.Join(errs, "; "))
	}
	prog, ssaPkgs := ssautil.Packages(pkgs, ssa.InstantiateGenerics)
	prog.Build()
	mains := map[string]*ssa.Package{}
	for _, p := range ssaPkgs {
		if p != nil && p.Pkg.Name() == "main" && strings.HasPrefix(p.Pkg.Path(), modulePath+"/functions/") {
			mains[strings.TrimPrefix(p.Pkg.Path(), modulePath+"/functions/")] = p
		}
	}
	out := map[string]*codeAccess{}
	for _, fn := range routes.Functions {
		p, ok := mains[fn]
		if !ok {
			return nil, fmt.Errorf("no main package functions/%s", fn)
		}
		out[fn] = accessOf(reachable(prog, p.Func("init"), p.Func("main")))
	}
	return out, nil
}

// reachable is the set of functions the roots can run (see the file's
// comment for the rules).
func reachable(prog *ssa.Program, roots ...*ssa.Function) map[*ssa.Function]bool {
	seen := map[*ssa.Function]bool{}
	var work []*ssa.Function
	add := func(f *ssa.Function) {
		if f != nil && !seen[f] {
			seen[f] = true
			work = append(work, f)
		}
	}
	var runtimeTypes []types.Type
	typeSeen := map[string]bool{}
	var invokes []*ssa.CallCommon
	resolve := func(c *ssa.CallCommon, t types.Type) {
		if types.Implements(t, c.Value.Type().Underlying().(*types.Interface)) {
			add(prog.LookupMethod(t, c.Method.Pkg(), c.Method.Name()))
		}
	}
	for _, r := range roots {
		add(r)
	}
	for len(work) > 0 {
		f := work[len(work)-1]
		work = work[:len(work)-1]
		for _, b := range f.Blocks {
			for _, instr := range b.Instrs {
				ops := instr.Operands(nil)
				if call, ok := instr.(ssa.CallInstruction); ok {
					c := call.Common()
					switch {
					case c.IsInvoke():
						invokes = append(invokes, c)
						for _, t := range runtimeTypes {
							resolve(c, t)
						}
					case c.StaticCallee() != nil:
						add(c.StaticCallee())
					}
					ops = ops[1:] // the callee itself is not a value taken
				}
				if mi, ok := instr.(*ssa.MakeInterface); ok {
					t := mi.X.Type()
					if key := types.TypeString(t, nil); !typeSeen[key] {
						typeSeen[key] = true
						runtimeTypes = append(runtimeTypes, t)
						for _, c := range invokes {
							resolve(c, t)
						}
					}
				}
				for _, op := range ops {
					if op == nil {
						continue
					}
					switch v := (*op).(type) {
					case *ssa.Function:
						add(v)
					case *ssa.MakeClosure:
						add(v.Fn.(*ssa.Function))
					}
				}
			}
		}
	}
	return seen
}

// txItemActions are the IAM actions of TransactWriteItems' item kinds.
var txItemActions = map[string]string{
	"Put": ddbPutItem, "Update": ddbUpdateItem, "Delete": ddbDeleteItem, "ConditionCheck": ddbConditionCheckItem,
}

// stripeResources maps stripe-go's resource packages to the Dashboard's
// names of restricted key permissions.
var stripeResources = map[string]string{
	"customer": stripeCustomers, "setupintent": stripeSetupIntents, "paymentmethod": stripePaymentMethods,
	"paymentintent": stripePaymentIntents, "refund": stripeRefunds, "charge": stripeCharges,
}

func accessOf(fns map[*ssa.Function]bool) *codeAccess {
	a := &codeAccess{table: map[string]bool{}, stripe: map[string]StripeAccess{}}
	var transacts bool
	txKinds := map[string]bool{}
	problem := func(format string, args ...any) { a.problems = append(a.problems, fmt.Sprintf(format, args...)) }
	for f := range fns {
		for _, b := range f.Blocks {
			for _, instr := range b.Instrs {
				switch instr := instr.(type) {
				case ssa.CallInstruction:
					c := instr.Common()
					var pkg, recv, method string
					if c.IsInvoke() {
						pkg, recv, method = namedOf(c.Value.Type()), "", c.Method.Name()
						pkg, recv = splitNamed(pkg)
					} else if g := c.StaticCallee(); g != nil && g.Signature.Recv() != nil {
						pkg, recv = splitNamed(namedOf(g.Signature.Recv().Type()))
						method = g.Name()
					} else if g != nil && g.Pkg != nil {
						pkg, method = g.Pkg.Pkg.Path(), g.Name()
					}
					switch {
					case pkg == dynamoPkg && recv == "API", pkg == ddbClientPkg && recv == "Client":
						if method == "TransactWriteItems" {
							transacts = true
						} else {
							a.table["dynamodb:"+method] = true
						}
					case pkg == ddbClientPkg && strings.HasPrefix(method, "New") && strings.HasSuffix(method, "Paginator"):
						a.table["dynamodb:"+strings.TrimSuffix(strings.TrimPrefix(method, "New"), "Paginator")] = true
					case strings.HasPrefix(pkg, stripeRootPkg+"/") && recv == "Client":
						res, ok := stripeResources[pkg[len(stripeRootPkg)+1:]]
						if !ok {
							problem("%s calls stripe-go's %s.%s: add the package to stripeResources", f, pkg, method)
							continue
						}
						need := StripeWrite
						if method == "Get" || method == "List" || method == "Search" {
							need = StripeRead
						}
						if a.stripe[res] != StripeWrite {
							a.stripe[res] = need
						}
					case pkg == stripeRootPkg && method == "AddExpand":
						problem("%s expands a Stripe object: the key needs read on the expanded resource; add it by hand", f)
					}
				case *ssa.Alloc:
					if n := namedOf(instr.Type().(*types.Pointer).Elem()); strings.HasPrefix(n, ddbTypesPkg+".") {
						if _, ok := txItemActions[strings.TrimPrefix(n, ddbTypesPkg+".")]; ok {
							txKinds[strings.TrimPrefix(n, ddbTypesPkg+".")] = true
						}
					}
				case *ssa.FieldAddr:
					st := instr.X.Type().Underlying().(*types.Pointer).Elem()
					field := st.Underlying().(*types.Struct).Field(instr.Field).Name()
					switch n := namedOf(st); {
					case n == ddbClientPkg+".QueryInput" && field == "IndexName":
						a.sweepIndex = true
					case n == ddbClientPkg+".ScanInput" && field == "IndexName":
						problem("%s scans an index", f)
					case strings.HasPrefix(n, stripeRootPkg+".") && field == "Expand":
						problem("%s expands a Stripe object: the key needs read on the expanded resource; add it by hand", f)
					}
				}
			}
		}
	}
	if transacts {
		for kind := range txKinds {
			a.table[txItemActions[kind]] = true
		}
	}
	return a
}

// namedOf is "pkgpath.Name" of a named type or a pointer to one, else "".
func namedOf(t types.Type) string {
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	if n, ok := t.(*types.Named); ok && n.Obj().Pkg() != nil {
		return n.Obj().Pkg().Path() + "." + n.Obj().Name()
	}
	return ""
}

func splitNamed(n string) (pkg, name string) {
	if i := strings.LastIndex(n, "."); i >= 0 {
		return n[:i], n[i+1:]
	}
	return "", ""
}

// The table actions of each function's IAM policy are exactly the calls
// its code can make (docs/DEPLOYMENT.md, "Least privilege").
func TestTableAccessIsWhatTheCodeCalls(t *testing.T) {
	for fn, got := range analyzeFunctions(t) {
		spec := specFor(fn)
		for _, p := range got.problems {
			t.Errorf("%s: %s", fn, p)
		}
		code := slices.Sorted(maps.Keys(got.table))
		if granted := sortedCopy(spec.Table.Actions); !slices.Equal(code, granted) {
			t.Errorf("%s: its code calls %v on the table; functionSpecs grants %v", fn, code, granted)
		}
		if got.sweepIndex != spec.Table.SweepIndex {
			t.Errorf("%s: its code queries the sweep index: %v; functionSpecs grants it: %v", fn, got.sweepIndex, spec.Table.SweepIndex)
		}
	}
}

// Each function's restricted Stripe key has exactly the permissions its
// code's Stripe calls need (docs/DEPLOYMENT.md, "Stripe keys and their
// permissions").
func TestStripePermissionsAreWhatTheCodeCalls(t *testing.T) {
	for fn, got := range analyzeFunctions(t) {
		if want := specFor(fn).Stripe; !maps.Equal(got.stripe, want) && !(len(got.stripe) == 0 && len(want) == 0) {
			t.Errorf("%s: its code needs %v at Stripe; functionSpecs gives its key %v", fn, got.stripe, want)
		}
	}
}

// The analysis sees what it must: each rule above finds its case in the
// code as it is, so a broken rule cannot pass silently.
func TestCodeAnalysisFindsKnownCalls(t *testing.T) {
	a := analyzeFunctions(t)
	for _, c := range []struct {
		fn, what string
		ok       bool
	}{
		{routes.Usage, "BatchGetItem (a direct client call)", a[routes.Usage].table[ddbBatchGetItem]},
		{routes.Purchases, "UpdateItem (only inside a transaction)", a[routes.Purchases].table[ddbUpdateItem]},
		{routes.AutoRefill, "the sweep index (a QueryInput with IndexName)", a[routes.AutoRefill].sweepIndex},
		{routes.Billing, "no sweep index", !a[routes.Billing].sweepIndex},
		{routes.Purchases, "PaymentIntents write (New)", a[routes.Purchases].stripe[stripePaymentIntents] == StripeWrite},
		{routes.StripeWebhook, "Refunds write (New, a double charge's refund)", a[routes.StripeWebhook].stripe[stripeRefunds] == StripeWrite},
		{routes.Admin, "PaymentIntents read (Get only)", a[routes.Admin].stripe[stripePaymentIntents] == StripeRead},
		{routes.Usage, "no Stripe call", len(a[routes.Usage].stripe) == 0},
	} {
		if !c.ok {
			t.Errorf("%s: the analysis misses %s", c.fn, c.what)
		}
	}
}
