-- pgbench script: one single-row INSERT per transaction into a table shaped
-- like referd's customers (bench/run.sh creates pgbench_customers and
-- pgbench_customer_seq in database referd_bench before each run).
INSERT INTO pgbench_customers (program_id, ext_id, key, email, name, surname, created_at)
SELECT 1, 'c' || s.n, 'k' || s.n, 'c' || s.n || '@example.com', 'Ann', 'Lee',
       (extract(epoch FROM clock_timestamp()) * 1000)::bigint
FROM (SELECT nextval('pgbench_customer_seq') AS n) AS s;
