package salesforce

import (
	"context"
	"strings"
	"testing"

	"github.com/proffconnect/proffsync/internal/mapping"
)

// A polymorphic lookup (WhoId → Contact or Lead) has no one parent to describe: the path is refused with the
// objects named, before any call.
func TestPolymorphicRelationshipIsRefused(t *testing.T) {
	t.Parallel()
	c, err := New(Options{LoginURL: "https://example.my.salesforce.com", ClientID: "id", ClientSecret: "s", APIVersion: "62.0",
		Object: "Task", OrgNumberField: "Who.Org_Number__c", OptInField: "Proff_Mass_Update__c"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]mapping.Field{}
	problems, err := c.describeParents(context.Background(), describeAnswer{parent: map[string][]string{"who": {"Contact", "Lead"}}}, out)
	if err != nil || len(out) != 0 {
		t.Fatalf("describeParents: %v, %v", out, err)
	}
	if p := problems["who.org_number__c"]; !strings.Contains(p, "refers to 2 objects (Contact, Lead)") {
		t.Fatalf("problem %q", p)
	}
}
