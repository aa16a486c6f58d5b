package sfemu

import (
	"strings"

	"github.com/proffconnect/proffsync/internal/mapping"
)

// fieldDef is one field of the emulated schema: what describe says about it, plus what the emulator needs
// to enforce on writes (label for error messages, digits for integers).
type fieldDef struct {
	mapping.Field
	Label   string
	Custom  bool
	Digits  int
	Default any // the value a new record gets when AddRecord does not set the field
	// ReferenceTo and RelationshipName describe a lookup (reference) field: the parent object, and the name
	// SOQL reaches the parent's fields through (Account for AccountId, Parent_Account__r for a custom lookup).
	ReferenceTo      string
	RelationshipName string
}

// object is one emulated sObject type: its schema in describe order, and its records in Id order.
type object struct {
	name      string
	label     string
	keyPrefix string
	custom    bool
	fields    []*fieldDef
	byLower   map[string]*fieldDef // lower-case API name → field (SOQL and JSON names are case-insensitive)

	ids  []string // ascending; ids are minted increasing so appends keep the order
	recs map[string]*record
}

type record struct {
	values  map[string]any // canonical field name → string, float64, bool or nil
	deleted bool
}

func (o *object) field(name string) *fieldDef { return o.byLower[strings.ToLower(name)] }

func (o *object) setField(f mapping.Field) {
	if old := o.field(f.Name); old != nil {
		f.Name = old.Name // the schema's spelling stays canonical
		old.Field = f
		if f.Type == "int" {
			old.Digits = f.Precision
		}
		return
	}
	d := &fieldDef{Field: f, Label: f.Name, Custom: strings.HasSuffix(f.Name, "__c")}
	if f.Type == "int" {
		d.Digits = f.Precision
	}
	if f.Type == "boolean" {
		d.Default = false
	}
	o.fields = append(o.fields, d)
	o.byLower[strings.ToLower(f.Name)] = d
}

func (o *object) removeField(name string) {
	d := o.field(name)
	if d == nil {
		return
	}
	delete(o.byLower, strings.ToLower(d.Name))
	for i, f := range o.fields {
		if f == d {
			o.fields = append(o.fields[:i], o.fields[i+1:]...)
			break
		}
	}
}

// Field constructors, shaped like the describe of a Developer Edition org.
func fID() *fieldDef {
	return &fieldDef{Field: mapping.Field{Name: "Id", Type: "id", Length: 18}, Label: "Record ID"}
}
func fStr(name, label string, length int) *fieldDef {
	return &fieldDef{Field: mapping.Field{Name: name, Type: "string", Length: length, Updateable: true, Nillable: true}, Label: label}
}
func fTyped(typ, name, label string, length int) *fieldDef {
	d := fStr(name, label, length)
	d.Type = typ
	return d
}
func fReadOnly(typ, name, label string) *fieldDef {
	return &fieldDef{Field: mapping.Field{Name: name, Type: typ, Nillable: true}, Label: label}
}
func fInt(name, label string, digits int) *fieldDef {
	return &fieldDef{Field: mapping.Field{Name: name, Type: "int", Updateable: true, Nillable: true, Precision: digits}, Label: label, Digits: digits}
}
func fNum(typ, name, label string, precision, scale int) *fieldDef {
	return &fieldDef{Field: mapping.Field{Name: name, Type: typ, Updateable: true, Nillable: true, Precision: precision, Scale: scale}, Label: label}
}
func fPick(name, label string, values ...string) *fieldDef {
	return &fieldDef{Field: mapping.Field{Name: name, Type: "picklist", Length: 255, Updateable: true, Nillable: true, PicklistValues: values}, Label: label}
}

// fAddress is a compound address field: read-only, its value built from its components (Billing… for
// BillingAddress, the unprefixed Street, City… for a Lead's Address); it is written through them.
func fAddress(name, label string) *fieldDef {
	return &fieldDef{Field: mapping.Field{Name: name, Type: "address", Nillable: true}, Label: label}
}

// fLookup is a lookup to a parent object, reachable in SOQL as rel.Field.
func fLookup(name, label, parent, rel string) *fieldDef {
	d := fTyped("reference", name, label, 18)
	d.ReferenceTo, d.RelationshipName = parent, rel
	return d
}
func fBool(name, label string) *fieldDef {
	return &fieldDef{Field: mapping.Field{Name: name, Type: "boolean", Updateable: true}, Label: label, Default: false}
}

var industries = []string{"Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications",
	"Construction", "Consulting", "Education", "Electronics", "Energy", "Engineering", "Entertainment",
	"Environmental", "Finance", "Food & Beverage", "Government", "Healthcare", "Hospitality", "Insurance",
	"Machinery", "Manufacturing", "Media", "Not For Profit", "Recreation", "Retail", "Shipping", "Technology",
	"Telecommunications", "Transportation", "Utilities", "Other"}

func customFields() []*fieldDef {
	d := fTyped("datetime", "Proff_Last_Synced__c", "Proff Last Synced", 0)
	return []*fieldDef{
		fStr("Org_Number__c", "Org Number", 20),
		fStr("Country_Code__c", "Country Code", 10),
		fBool("Proff_Mass_Update__c", "Proff Mass Update"),
		d,
	}
}

func newAccount() *object {
	fs := []*fieldDef{
		fID(),
		fReadOnly("boolean", "IsDeleted", "Deleted"),
		{Field: mapping.Field{Name: "Name", Type: "string", Length: 255, Updateable: true}, Label: "Account Name"},
		fPick("Type", "Account Type", "Prospect", "Customer - Direct", "Customer - Channel", "Customer", "Partner", "Other"),
		fLookup("ParentId", "Parent Account ID", "Account", "Parent"),
		fTyped("textarea", "BillingStreet", "Billing Street", 255),
		fStr("BillingCity", "Billing City", 40),
		fStr("BillingState", "Billing State/Province", 80),
		fStr("BillingPostalCode", "Billing Zip/Postal Code", 20),
		fStr("BillingCountry", "Billing Country", 80),
		fAddress("BillingAddress", "Billing Address"),
		fTyped("textarea", "ShippingStreet", "Shipping Street", 255),
		fStr("ShippingCity", "Shipping City", 40),
		fStr("ShippingPostalCode", "Shipping Zip/Postal Code", 20),
		fStr("ShippingCountry", "Shipping Country", 80),
		fAddress("ShippingAddress", "Shipping Address"),
		fTyped("phone", "Phone", "Account Phone", 40),
		fTyped("phone", "Fax", "Account Fax", 40),
		fStr("AccountNumber", "Account Number", 40),
		fTyped("url", "Website", "Website", 255),
		fStr("Sic", "SIC Code", 20),
		fPick("Industry", "Industry", industries...),
		fNum("currency", "AnnualRevenue", "Annual Revenue", 18, 0),
		fInt("NumberOfEmployees", "Employees", 8),
		fPick("Ownership", "Ownership", "Public", "Private", "Subsidiary", "Other"),
		fTyped("textarea", "Description", "Account Description", 32000),
		fReadOnly("datetime", "CreatedDate", "Created Date"),
		fReadOnly("datetime", "LastModifiedDate", "Last Modified Date"),
		fReadOnly("datetime", "SystemModstamp", "System Modstamp"),
	}
	return newObject("Account", "Account", "001", append(fs, customFields()...))
}

func newLead() *object {
	fs := []*fieldDef{
		fID(),
		fReadOnly("boolean", "IsDeleted", "Deleted"),
		{Field: mapping.Field{Name: "LastName", Type: "string", Length: 80, Updateable: true}, Label: "Last Name"},
		fStr("FirstName", "First Name", 40),
		fReadOnly("string", "Name", "Full Name"),
		{Field: mapping.Field{Name: "Company", Type: "string", Length: 255, Updateable: true}, Label: "Company"},
		fTyped("textarea", "Street", "Street", 255),
		fStr("City", "City", 40),
		fStr("State", "State/Province", 80),
		fStr("PostalCode", "Zip/Postal Code", 20),
		fStr("Country", "Country", 80),
		fAddress("Address", "Address"),
		fTyped("phone", "Phone", "Phone", 40),
		fTyped("email", "Email", "Email", 80),
		fTyped("url", "Website", "Website", 255),
		fTyped("textarea", "Description", "Description", 32000),
		fPick("LeadSource", "Lead Source", "Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"),
		{Field: mapping.Field{Name: "IsConverted", Type: "boolean"}, Label: "Converted", Default: false},
		{Field: mapping.Field{Name: "Status", Type: "picklist", Length: 255, Updateable: true,
			PicklistValues:     []string{"Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"},
			RestrictedPicklist: true}, Label: "Status", Default: "Open - Not Contacted"},
		fPick("Industry", "Industry", industries...),
		fNum("currency", "AnnualRevenue", "Annual Revenue", 18, 0),
		fInt("NumberOfEmployees", "Employees", 8),
		fReadOnly("datetime", "CreatedDate", "Created Date"),
		fReadOnly("datetime", "LastModifiedDate", "Last Modified Date"),
		fReadOnly("datetime", "SystemModstamp", "System Modstamp"),
	}
	return newObject("Lead", "Lead", "00Q", append(fs, customFields()...))
}

// newContact is a Contact under an Account (AccountId, relationship Account): the object whose company
// identity an org often keeps on the parent, read as Account.Org_Number__c.
func newContact() *object {
	fs := []*fieldDef{
		fID(),
		fReadOnly("boolean", "IsDeleted", "Deleted"),
		{Field: mapping.Field{Name: "LastName", Type: "string", Length: 80, Updateable: true}, Label: "Last Name"},
		fStr("FirstName", "First Name", 40),
		fReadOnly("string", "Name", "Full Name"),
		fLookup("AccountId", "Account ID", "Account", "Account"),
		fStr("Title", "Title", 128),
		fTyped("textarea", "MailingStreet", "Mailing Street", 255),
		fStr("MailingCity", "Mailing City", 40),
		fStr("MailingPostalCode", "Mailing Zip/Postal Code", 20),
		fStr("MailingCountry", "Mailing Country", 80),
		fAddress("MailingAddress", "Mailing Address"),
		fTyped("phone", "Phone", "Business Phone", 40),
		fTyped("email", "Email", "Email", 80),
		fTyped("textarea", "Description", "Contact Description", 32000),
		fReadOnly("datetime", "CreatedDate", "Created Date"),
		fReadOnly("datetime", "LastModifiedDate", "Last Modified Date"),
		fReadOnly("datetime", "SystemModstamp", "System Modstamp"),
	}
	return newObject("Contact", "Contact", "003", append(fs, customFields()...))
}

// newCompany is a custom object (Company__c) an org may keep companies in instead of Accounts, with a
// custom lookup to an Account (Parent_Account__r).
func newCompany() *object {
	fs := []*fieldDef{
		fID(),
		fReadOnly("boolean", "IsDeleted", "Deleted"),
		{Field: mapping.Field{Name: "Name", Type: "string", Length: 80, Updateable: true}, Label: "Company Name"},
		fLookup("Parent_Account__c", "Parent Account", "Account", "Parent_Account__r"),
		fStr("City__c", "City", 40),
		fNum("currency", "Revenue__c", "Revenue", 18, 0),
		fNum("double", "Employees__c", "Employees", 8, 0),
		fTyped("url", "Website__c", "Website", 255),
		fReadOnly("datetime", "CreatedDate", "Created Date"),
		fReadOnly("datetime", "LastModifiedDate", "Last Modified Date"),
		fReadOnly("datetime", "SystemModstamp", "System Modstamp"),
	}
	o := newObject("Company__c", "Company", "a00", append(fs, customFields()...))
	o.custom = true
	return o
}

// newOrganization is the org itself, one record, for the corporate currency `check` compares the companies'
// currencies with.
func newOrganization() *object {
	return newObject("Organization", "Organization", "00D", []*fieldDef{
		fID(),
		fReadOnly("boolean", "IsDeleted", "Deleted"),
		fReadOnly("string", "Name", "Name"),
		fReadOnly("picklist", "DefaultCurrencyIsoCode", "Currency Locale"),
		fReadOnly("datetime", "CreatedDate", "Created Date"),
		fReadOnly("datetime", "LastModifiedDate", "Last Modified Date"),
		fReadOnly("datetime", "SystemModstamp", "System Modstamp"),
	})
}

func newObject(name, label, prefix string, fs []*fieldDef) *object {
	o := &object{name: name, label: label, keyPrefix: prefix, byLower: map[string]*fieldDef{}, recs: map[string]*record{}}
	for _, f := range fs {
		if f.Label == "" {
			f.Label = f.Name
		}
		f.Custom = strings.HasSuffix(f.Name, "__c")
		o.fields = append(o.fields, f)
		o.byLower[strings.ToLower(f.Name)] = f
	}
	return o
}

// value is a field's value as a query or a record read returns it: a compound address is an object of its
// components, or null when they are all empty.
func (o *object) value(rec *record, f *fieldDef) any {
	if f.Type != "address" {
		return rec.values[f.Name]
	}
	prefix := strings.TrimSuffix(f.Name, "Address")
	out := map[string]any{"geocodeAccuracy": nil, "latitude": nil, "longitude": nil}
	empty := true
	for _, part := range []string{"Street", "City", "State", "PostalCode", "Country"} {
		v := rec.values[prefix+part]
		if v != nil {
			empty = false
		}
		out[strings.ToLower(part[:1])+part[1:]] = v
	}
	if empty {
		return nil
	}
	return out
}

// soapType is the describe soapType of a field type.
func soapType(t string) string {
	switch t {
	case "id", "reference":
		return "tns:ID"
	case "boolean":
		return "xsd:boolean"
	case "int":
		return "xsd:int"
	case "double", "currency", "percent":
		return "xsd:double"
	case "address":
		return "urn:address"
	case "date":
		return "xsd:date"
	case "datetime":
		return "xsd:dateTime"
	default:
		return "xsd:string"
	}
}

// describeJSON builds the describe answer: the keys a client reads, shaped as Salesforce sends them.
func (o *object) describeJSON(version string) map[string]any {
	fields := make([]map[string]any, 0, len(o.fields))
	for _, f := range o.fields {
		pl := make([]map[string]any, 0, len(f.PicklistValues))
		for i, v := range f.PicklistValues {
			pl = append(pl, map[string]any{"active": true, "defaultValue": i == 0 && f.Default == v, "label": v, "validFor": nil, "value": v})
		}
		isID := f.Type == "id"
		referenceTo, relationshipName := []string{}, any(nil)
		if f.ReferenceTo != "" {
			referenceTo, relationshipName = []string{f.ReferenceTo}, f.RelationshipName
		}
		// An int's size is its digits; Salesforce reports precision and scale 0 for it (they describe
		// double, currency and percent fields only).
		precision, scale := f.Precision, f.Scale
		if f.Type == "int" {
			precision, scale = 0, 0
		}
		fields = append(fields, map[string]any{
			"name": f.Name, "label": f.Label, "type": f.Type, "soapType": soapType(f.Type),
			"length": f.Length, "byteLength": f.Length * 3, "precision": precision, "scale": scale,
			"digits": f.Digits, "updateable": f.Updateable, "createable": f.Updateable, "nillable": f.Nillable,
			"custom": f.Custom, "calculated": false, "autoNumber": false, "unique": false, "externalId": false,
			"idLookup": isID, "filterable": f.Type != "address", "sortable": f.Type != "textarea" && f.Type != "address", "groupable": f.Type != "textarea" && f.Type != "address",
			"defaultedOnCreate": isID || f.Type == "boolean", "picklistValues": pl,
			"restrictedPicklist": f.RestrictedPicklist, "referenceTo": referenceTo, "relationshipName": relationshipName,
			"inlineHelpText": nil, "htmlFormatted": false, "encrypted": false, "deprecatedAndHidden": false,
		})
	}
	base := "/services/data/v" + version + "/sobjects/" + o.name
	return map[string]any{
		"name": o.name, "label": o.label, "labelPlural": o.label + "s", "keyPrefix": o.keyPrefix,
		"custom": o.custom, "createable": true, "updateable": true, "deletable": true, "queryable": true,
		"searchable": true, "retrieveable": true, "layoutable": true, "fields": fields, "childRelationships": []any{},
		"recordTypeInfos": []any{},
		"urls":            map[string]string{"sobject": base, "describe": base + "/describe", "rowTemplate": base + "/{ID}"},
	}
}
