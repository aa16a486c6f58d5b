-- Which form of an organisation number in the lookup path has found a company in Proff, per country
-- (issue 13). Proff does not document whether Swedish and Finnish numbers go as digits (5560125790) or
-- hyphenated (556012-5790): the client tries the digits, falls back to the hyphenated form on a 404, and
-- remembers here which form found a company, so that the fallback costs a few calls per country, not one
-- per not-found record. Only the country and the form: never an organisation number.
CREATE TABLE number_forms (
    country  text        NOT NULL CHECK (country IN ('NO', 'SE', 'DK', 'FI')),
    form     text        NOT NULL CHECK (form IN ('digits', 'hyphenated')),
    found_at timestamptz NOT NULL,
    PRIMARY KEY (country, form)
);
