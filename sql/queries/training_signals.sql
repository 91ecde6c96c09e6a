-- The cached training reference signals of model :m (tasks.monitor), if computed.
SELECT * FROM training_signals WHERE model_id = :m;
