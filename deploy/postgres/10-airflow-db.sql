-- Runs once, when the Postgres volume is first initialised: Airflow's metadata database lives
-- beside linerec's database on the same server (as `make airflow` does on the embedded one).
CREATE DATABASE airflow OWNER linerec;
