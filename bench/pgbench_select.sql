-- Ceiling for reads on PostgreSQL: one indexed single-row SELECT by customer id, the database
-- work behind GET /v1/customers/{id} with no HTTP and no application in front of it.
-- Expects pgbench_customers filled by bench/pgbench_insert.sql (ids c1 … cN).
\set n random(1, 1000)
SELECT row_id, program_id, ext_id, key, email, name, surname, created_at
FROM pgbench_customers WHERE program_id = 1 AND ext_id = 'c' || :n;
